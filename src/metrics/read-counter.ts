// A prom-client Counter whose series are read from plain numbers when scraped. prom-client's own
// collect-time path (reset, then inc per series) hashes every label set on every scrape; for the
// ~900 gRPC series that was most of a scrape's CPU. This overrides the public get() instead.
import { Counter, type CounterConfiguration, type LabelValues } from 'prom-client';

export interface CounterSeries<T extends string> {
  readonly labels: LabelValues<T>;
  readonly value: number;
}

type CounterSnapshot<T extends string> = Awaited<ReturnType<Counter<T>['get']>>;

export class ReadCounter<T extends string> extends Counter<T> {
  private readonly metricName: string;
  private readonly metricHelp: string;

  constructor(
    config: Omit<CounterConfiguration<T>, 'collect'>,
    private readonly read: () => Iterable<CounterSeries<T>>,
  ) {
    super(config);
    this.metricName = config.name;
    this.metricHelp = config.help;
  }

  override get(): Promise<CounterSnapshot<T>> {
    const snapshot = { help: this.metricHelp, name: this.metricName, type: 'counter', values: [...this.read()], aggregator: 'sum' };
    // prom-client's typings call `type` an enum; its registry writes the string Counter.get() returns
    return Promise.resolve(snapshot as unknown as CounterSnapshot<T>);
  }
}
