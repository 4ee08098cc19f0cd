import type { MethodRegistryData } from '../methods/types.ts';
import { regKey } from '../store/keys.ts';
import type { Store } from '../store/types.ts';

/** The key-value data a method may keep in the store (`MethodContext.registry`), under `reg!kv!`. */
export function registryData(store: Store): MethodRegistryData {
  return {
    get: (key) => store.get(regKey(`kv!${key}`)),
    put: (key, value) => store.write([{ type: 'put', key: regKey(`kv!${key}`), value }]),
    del: (key) => store.write([{ type: 'del', key: regKey(`kv!${key}`) }]),
    list: async <T>(prefix: string) =>
      (await store.range<T>({ gte: regKey(`kv!${prefix}`), lt: regKey(`kv!${prefix}\uffff`) })).map(
        ([k, v]) => [k.slice(regKey('kv!').length), v] as [string, T],
      ),
  };
}
