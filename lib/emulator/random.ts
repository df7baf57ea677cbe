// Seeded randomness: tests and benchmarks must be reproducible.

/** mulberry32: tiny, fast, good enough for test data and fault shares. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const MASK64 = (1n << 64n) - 1n;

/**
 * Contact ids shaped like Google's (16 hex digits). splitmix64 of a counter is
 * a bijection, so ids are unique without a lookup and deterministic per run.
 */
export function createIdGenerator(salt: number): () => string {
  let counter = BigInt(salt >>> 0) << 32n;
  return () => {
    counter = (counter + 1n) & MASK64;
    let z = (counter + 0x9e3779b97f4a7c15n) & MASK64;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
    z = z ^ (z >> 31n);
    return z.toString(16).padStart(16, '0');
  };
}
