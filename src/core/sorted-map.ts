// sorted-btree is CommonJS with `exports.default`; under NodeNext its default import is the module
// object, so the class is taken from `.default` once, here.
import btreeModule from 'sorted-btree';

export const SortedMap = btreeModule.default;
export type SortedMap<K, V> = InstanceType<typeof SortedMap<K, V>>;
