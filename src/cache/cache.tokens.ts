/** Injection token of the opened CacheStore. */
export const CACHE_STORE = Symbol('CACHE_STORE');
