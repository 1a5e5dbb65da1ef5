/**
 * A map per worker (its deps, or another object the worker owns), by server, profile or service: a second
 * worker in the same process keeps its own, and it goes with its owner.
 */
export function perWorker<T, K = string>(): (owner: object) => Map<K, T> {
  const maps = new WeakMap<object, Map<K, T>>();
  return (owner) => {
    let map = maps.get(owner);
    if (!map) {
      map = new Map();
      maps.set(owner, map);
    }
    return map;
  };
}
