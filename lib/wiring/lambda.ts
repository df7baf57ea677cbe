// The one piece of Lambda plumbing the entries share: build the handler on
// the first invocation and keep it for the life of the container.
//
// Why lazily, and not at module load: the entries must be importable
// without an environment (tests import `createHandler` from them), and the
// bundles are ESM, where a top-level await would also work but would run on
// import. The first invocation of a container is its cold start, so the
// environment is still parsed once per cold start, and a missing variable
// fails that invocation with a ConfigError naming it. A failed build is not
// kept: a passing fault (e.g. reading a secret) is tried again next time.

export function lazyHandler<E, C, R>(build: () => Promise<(event: E, context: C) => Promise<R>> | ((event: E, context: C) => Promise<R>)) {
  let ready: Promise<(event: E, context: C) => Promise<R>> | undefined;
  return async (event: E, context: C): Promise<R> => {
    ready ??= Promise.resolve()
      .then(build)
      .catch((error: unknown) => {
        ready = undefined;
        throw error;
      });
    return (await ready)(event, context);
  };
}
