// A bucket read from one bbolt file as the writer's input, so a file can be rewritten (compacted,
// or filtered by the caller) in one pass: sub-buckets are read lazily, when the writer reaches them.

import type { BboltReader, BucketRef } from './bbolt-reader.js';
import type { PageVisits } from './page-visits.js';
import type { WriteEntry } from './bbolt-writer.js';

export async function* copyEntries(reader: BboltReader, bucket: BucketRef, visits?: PageVisits): AsyncGenerator<WriteEntry> {
  for await (const entry of reader.entries(bucket, visits)) {
    if (entry.kind === 'value') {
      yield entry;
    } else {
      yield { kind: 'bucket', key: entry.key, sequence: entry.bucket.sequence, entries: copyEntries(reader, entry.bucket, visits) };
    }
  }
}
