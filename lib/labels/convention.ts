// Which convention a CardDAV book keeps its labels in, and so which one the
// bridge writes: a connection setting when there is one, else what the book
// shows (group vCards when it has any group card, else CATEGORIES when any
// card has them), else group vCards, the convention Apple's Contacts, iCloud,
// Nextcloud and DAVx5 (by default) all read. Both are always read.

export const LABEL_CONVENTIONS = ['group-vcards', 'categories'] as const;
export type LabelConvention = (typeof LABEL_CONVENTIONS)[number];

/** What the index knows of a book's labels. */
export interface BookLabelSigns {
  groupCards: number;
  /** Cards with at least one category. */
  categorizedCards: number;
}

/** The convention the book uses; undefined when it has no labels yet. */
export function detectConvention(signs: BookLabelSigns): LabelConvention | undefined {
  if (signs.groupCards > 0) return 'group-vcards';
  if (signs.categorizedCards > 0) return 'categories';
  return undefined;
}

/** The convention a label write uses: the connection's setting, else the book's, else group vCards. */
export function writeConvention(params: { setting?: LabelConvention; signs: BookLabelSigns }): LabelConvention {
  return params.setting ?? detectConvention(params.signs) ?? 'group-vcards';
}

export function isLabelConvention(value: unknown): value is LabelConvention {
  return typeof value === 'string' && (LABEL_CONVENTIONS as readonly string[]).includes(value);
}
