// The label events in the OpenAPI document (its `webhooks`, OpenAPI 3.1):
// label.created, label.renamed and label.deleted as the change feed, the
// webhooks and the change log carry them (lib/core/events/label.ts), and a
// contact's own label change, which is contact.updated with `labelsChanged`.
import * as z from 'zod';
import '../openapi-method.ts';
import type { App } from './openapi.ts';

const LabelEventDataSchema = z
  .object({
    tenantId: z.string(),
    connectionId: z.string(),
    labelId: z.string().openapi({ description: "The server's id of the label: Google's `contactGroups/<id>`, a group vCard's href, a category's name." }),
    name: z.string().openapi({ description: 'The name a person sees; on label.deleted, the last one known.', example: 'Family' }),
    previousName: z.string().optional().openapi({ description: 'On label.renamed: the name before.' }),
  })
  .openapi('LabelEventData');

const LabelEventSchema = z
  .object({
    specversion: z.literal('1.0'),
    id: z.string().openapi({ description: 'Deterministic: the same change seen again (a retried sync) has the same id; drop repeats by it.' }),
    source: z.string(),
    type: z.enum(['label.created', 'label.renamed', 'label.deleted']),
    subject: z.string().openapi({ description: 'The label id.' }),
    time: z.string(),
    datacontenttype: z.string(),
    dataversion: z.string(),
    data: LabelEventDataSchema,
  })
  .openapi('LabelEvent', { description: 'A change of the account\'s labels (CloudEvents 1.0), on the change feed, to webhooks and in the change log.' });

export const LabelsChangedSchema = z
  .object({
    added: z.array(z.string()).openapi({ description: 'Labels the contact joined, by name.', example: ['Family'] }),
    removed: z.array(z.string()).openapi({ description: 'Labels the contact left, by name.', example: [] }),
  })
  .openapi('LabelsChanged', { description: "On contact.updated: the contact's labels changed (its card may be as it was: same etag, another event id)." });

const WHEN: Record<z.infer<typeof LabelEventSchema>['type'], string> = {
  'label.created':
    "A label is new on the account: made on the server (the sync sees it with a membership change, or at the latest an hour later), or made by a write that named a label the server did not have (published by that write). The first sync of a connection reports every label it finds.",
  'label.renamed': "A label's name changed on the server (`previousName` is the old one); its members follow as contact.updated with `labelsChanged`.",
  'label.deleted': 'A label is gone from the server; the contacts that were in it follow as contact.updated with `labelsChanged.removed`.',
};

export function registerLabelEvents(app: App): void {
  app.openAPIRegistry.register('LabelsChanged', LabelsChangedSchema);
  for (const [type, description] of Object.entries(WHEN)) {
    app.openAPIRegistry.registerWebhook({
      method: 'post',
      path: type,
      tags: ['webhooks'],
      summary: `${type} (change feed, webhooks, change log)`,
      description: `${description} A contact joining or leaving a label is not one of these: it is contact.updated whose data has \`labelsChanged\` (LabelsChanged).`,
      request: { body: { content: { 'application/json': { schema: LabelEventSchema } } } },
      responses: { 200: { description: 'Any 2xx: delivered. Otherwise the delivery is retried (webhooks).' } },
    });
  }
}
