// label.created / label.renamed / label.deleted: what the sync publishes when
// an account's labels (contact groups) change, whatever the server keeps them
// as (lib/labels). A contact joining or leaving a label is a contact.updated
// with `labelsChanged`, not one of these.
import { deterministicId, envelope, type CloudEvent } from './envelope.ts';

export type LabelEventType = 'label.created' | 'label.renamed' | 'label.deleted';

// A type alias, not an interface: it must fit the feed's `Record<string, unknown>` data.
export type LabelEventData = {
  tenantId: string;
  connectionId: string;
  /** The server's id of the label (Google: `contactGroups/<id>`; a group vCard's href; a category's name). */
  labelId: string;
  /** The name a person sees; for label.deleted the last one known. */
  name: string;
  /** On label.renamed: the name before. */
  previousName?: string;
};

export type LabelEvent = CloudEvent<LabelEventType, LabelEventData>;

/** Deterministic: the same change seen twice (a retried sync) is one event that SQS FIFO and consumers drop. */
export function buildLabelEvent(params: {
  type: LabelEventType;
  tenantId: string;
  connectionId: string;
  labelId: string;
  name: string;
  previousName?: string;
  /** Epoch ms. */
  time: number;
}): LabelEvent {
  const data: LabelEventData = { tenantId: params.tenantId, connectionId: params.connectionId, labelId: params.labelId, name: params.name };
  if (params.previousName !== undefined) data.previousName = params.previousName;
  return envelope({
    id: deterministicId([params.connectionId, params.type, params.labelId, params.name, params.previousName ?? '']),
    type: params.type,
    connectionId: params.connectionId,
    subject: params.labelId,
    time: params.time,
    data,
  });
}
