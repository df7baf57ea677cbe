// The normalized JSON contact: what events carry beside the raw vCard and
// what the write API accepts. Arrays keep the card's order; `type` is the
// first TYPE value lower-cased (home, work, cell, ...), `label` a custom label
// (Apple/Google `itemN.X-ABLabel`), `pref` a PREF/TYPE=pref marker.

export interface Labeled {
  value: string;
  type?: string;
  label?: string;
  pref?: boolean;
}

export interface ContactName {
  family?: string;
  given?: string;
  additional?: string;
  prefix?: string;
  suffix?: string;
}

export interface ContactAddress {
  type?: string;
  label?: string;
  pref?: boolean;
  poBox?: string;
  extended?: string;
  street?: string;
  locality?: string;
  region?: string;
  postalCode?: string;
  country?: string;
}

export interface ContactIm extends Labeled {
  /** Service such as "skype", "jabber", from X-SERVICE-TYPE, IMPP scheme or X-<SERVICE> property. */
  service?: string;
}

export interface ContactPhoto {
  /** A URI photo (http(s) or data:). */
  uri?: string;
  /** Inline base64 data, without line breaks. */
  data?: string;
  mediaType?: string;
}

export interface Birthday {
  /** Absent when the card has no year (vCard 3.0 `--MM-DD` / Apple's 1604 convention). */
  year?: number;
  month: number;
  day: number;
}

/** A custom date (Apple's and Google's `itemN.X-ABDATE`), with its label when it has one. */
export interface ContactDate extends Birthday {
  label?: string;
}

export interface Contact {
  uid?: string;
  fullName?: string;
  name?: ContactName;
  nickname?: string;
  emails?: Labeled[];
  phones?: Labeled[];
  addresses?: ContactAddress[];
  organization?: { name?: string; units?: string[] };
  title?: string;
  role?: string;
  note?: string;
  birthday?: Birthday;
  /** ANNIVERSARY (4.0), X-ANNIVERSARY and kin, or an `itemN.X-ABDATE` labelled `_$!<Anniversary>!$_` (Apple, Google). */
  anniversary?: Birthday;
  /** Other custom dates (`itemN.X-ABDATE` with `itemN.X-ABLabel`). */
  dates?: ContactDate[];
  urls?: Labeled[];
  ims?: ContactIm[];
  photo?: ContactPhoto;
  categories?: string[];
  /**
   * The contact's labels (contact groups), by name as a person sees them: Google's
   * contact groups (People API), group vCards or CATEGORIES, whichever the
   * server keeps (lib/labels). Set by the sync, not read from the card alone.
   */
  labels?: string[];
  /** REV as the card has it. */
  revision?: string;
}

/**
 * A patch names the fields to change. A field present replaces that field
 * wholesale (its lines are rewritten); `null` removes it; a field absent is
 * left byte-for-byte as it was. Labels are not card lines: they change
 * through a LabelChange (lib/writes/types.ts).
 */
export type ContactPatch = {
  [K in Exclude<keyof Contact, 'uid' | 'revision' | 'labels'>]?: Contact[K] | null;
};
