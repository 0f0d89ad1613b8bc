// One watch over every key for the whole console: the watch pane shows it, and the key tree, the
// open key and the leases view refresh when it reports a change. Kept to the last maxFeedEvents.
import { kvOf, type Kv } from './api';
import { openSse, type StreamState } from './sse';

export const maxFeedEvents = 500;

export interface FeedEvent {
  /** Unique within the page, for list keys. */
  readonly seq: number;
  readonly revision: number;
  readonly type: 'PUT' | 'DELETE';
  readonly kv: Kv;
  readonly at: Date;
}

type Listener = () => void;

class WatchFeed {
  events: FeedEvent[] = [];
  state: StreamState | 'stopped' = 'stopped';
  detail = '';
  private seq = 0;
  private stop: (() => void) | undefined;
  private readonly listeners = new Set<Listener>();
  private readonly changeListeners = new Set<(events: readonly FeedEvent[]) => void>();

  start(): void {
    this.stop?.();
    this.stop = openSse(
      '/api/watch?prefix',
      (m) => {
        if (m.event !== 'change') return;
        const data = JSON.parse(m.data) as { revision?: number; events?: { type?: string; kv?: unknown }[] };
        const batch: FeedEvent[] = (data.events ?? []).map((e) => ({
          seq: ++this.seq,
          revision: typeof data.revision === 'number' ? data.revision : 0,
          type: e.type === 'DELETE' ? 'DELETE' : 'PUT',
          kv: kvOf(e.kv),
          at: new Date(),
        }));
        this.events = [...batch.reverse(), ...this.events].slice(0, maxFeedEvents);
        for (const l of this.changeListeners) l(batch);
        this.emit();
      },
      (s, detail) => {
        this.state = s;
        this.detail = detail ?? '';
        this.emit();
      },
    );
  }

  halt(): void {
    this.stop?.();
    this.stop = undefined;
    this.state = 'stopped';
    this.emit();
  }

  clear(): void {
    this.events = [];
    this.emit();
  }

  /** Any update of the feed (for the watch pane). */
  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Only changes to keys. */
  onChange(l: (events: readonly FeedEvent[]) => void): () => void {
    this.changeListeners.add(l);
    return () => this.changeListeners.delete(l);
  }

  private emit(): void {
    for (const l of this.listeners) l();
  }
}

export const watchFeed = new WatchFeed();
