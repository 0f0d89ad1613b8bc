// The live watch pane: every change to any key, newest first, as the server streams it.
import { useEffect, useState } from 'preact/hooks';
import { displayKey } from './bytes';
import { textOf } from './value-text';
import { maxFeedEvents, watchFeed } from './watch-feed';

const previewChars = 120;

export function WatchView() {
  const [, setTick] = useState(0);
  const [filter, setFilter] = useState('');
  useEffect(() => watchFeed.subscribe(() => setTick((t) => t + 1)), []);
  const shown = filter === '' ? watchFeed.events : watchFeed.events.filter((e) => displayKey(e.kv.key).includes(filter));
  return (
    <section class="watch-pane" aria-label="Watch">
      <div class="toolbar">
        <span class={`stream-state ${watchFeed.state}`} data-testid="watch-state">
          {watchFeed.state === 'live' ? '● live' : watchFeed.state}
          {watchFeed.detail !== '' && watchFeed.state !== 'live' ? `: ${watchFeed.detail}` : ''}
        </span>
        <input type="search" placeholder="Only keys containing…" aria-label="Filter events" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
        <button onClick={() => watchFeed.clear()}>Clear</button>
      </div>
      <p class="tree-note">Changes to every key since this page opened (the last {maxFeedEvents}).</p>
      <ol class="events" data-testid="watch-events">
        {shown.map((e) => {
          const value = e.type === 'PUT' ? textOf(e.kv.value) : undefined;
          const text = value === undefined ? '' : value.encoding === 'base64' ? `(binary, base64) ${value.text}` : value.text;
          return (
            <li key={e.seq} class={`event ${e.type.toLowerCase()}`} data-testid="watch-event">
              <span class="rev">#{e.revision}</span>
              <span class="type">{e.type}</span>
              <span class="key">{displayKey(e.kv.key)}</span>
              <span class="val">{text.length > previewChars ? `${text.slice(0, previewChars)}…` : text}</span>
              <time>{e.at.toLocaleTimeString()}</time>
            </li>
          );
        })}
      </ol>
    </section>
  );
}
