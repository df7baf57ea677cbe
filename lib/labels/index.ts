export type { ContactLabels, Label, LabelAccess, LabelKind, LabelStore, LabelsUnavailableReason, MembershipChanges } from './ports.ts';
export { LabelExists, LabelNotWritable, LabelsError, LabelsForbidden, LabelsProtocolError, LabelsQuotaExceeded, LabelsTokenExpired, LabelsUnreachable } from './errors.ts';
