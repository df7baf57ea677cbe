// Which queue an SQS record came from. One Lambda may consume two queues
// (deliver-webhooks: the change feed and the delivery queue); a record names
// its queue by ARN, the configuration by URL. Both end in the queue's name,
// which is unique within an account and region: compare that.
import { UnknownEventSource } from './errors.ts';

/** `arn:aws:sqs:<region>:<account>:<name>` -> `<name>`. */
export function queueNameFromArn(arn: string): string {
  return arn.slice(arn.lastIndexOf(':') + 1);
}

/** `https://sqs.<region>.amazonaws.com/<account>/<name>` (or an emulator's) -> `<name>`. */
export function queueNameFromUrl(url: string): string {
  const path = (() => {
    try {
      return new URL(url).pathname;
    } catch {
      return url;
    }
  })();
  return path.replace(/\/+$/, '').split('/').at(-1) ?? '';
}

/** Picks the route of a record by its queue; UnknownEventSource for any other queue. */
export function routeByQueue<R extends string>(routes: Record<R, string>): (eventSourceARN: string | undefined) => R {
  const byName = new Map<string, R>();
  for (const [route, url] of Object.entries(routes) as [R, string][]) byName.set(queueNameFromUrl(url), route);
  return (eventSourceARN) => {
    const route = eventSourceARN === undefined ? undefined : byName.get(queueNameFromArn(eventSourceARN));
    if (route === undefined) throw new UnknownEventSource(eventSourceARN ?? '');
    return route;
  };
}
