// Switches for every place where observed Google behaviour (google-quirks.md)
// differs from the documented one or from the RFCs. Defaults reproduce Google
// as clients have seen it; flip a switch to get the documented/RFC behaviour
// or a rarer observed variant.

export interface Quirks {
  // ---- Discovery, listings, reports, errors (google-quirks.md "Observed since") ----
  /**
   * A propstat for the properties found is sent even when none of those asked
   * exists, as a bare status without <prop> (the book's own entry in a Depth 1
   * getetag listing: CardBook's 2015 log, gcardvault [2021], gaye/dav 1.7.3).
   * false: only the 404 propstat.
   */
  okPropstatWithoutProp: boolean;
  /** Each contact has the displayname `Contact` in a PROPFIND (gcardvault [2021]); false: 404, as for any unset property. */
  contactDisplayName: boolean;
  /** current-user-principal has no trailing slash, though principal-URL and hrefs do (lambdabaa/dav 3d19309 [2016]). */
  principalHrefWithoutSlash: boolean;
  /** getctag: `"<16 hex>.<counter>"` as seen (lambdabaa/dav [2016]), or the ETag of the last change. */
  ctagFormat: 'counter' | 'etag';
  /** The book's addressbook-description is `My Contacts` (gcardvault [2021]); false: 404. */
  addressBookDescription: boolean;
  /** The book's sync-token is 404 when the book is listed from the home set at Depth 1 (lambdabaa/dav [2016]). false: served. */
  syncTokenInHomeListing: boolean;
  /** max-resource-size is served (RFC 6352); Google answers it 404, as quota and owner (lambdabaa/dav [2016]). */
  maxResourceSizeProp: boolean;
  /** OPTIONS with 200 lists methods Google does not support (MKCOL, COPY, MOVE, LOCK, ...): never trust OPTIONS. */
  optionsOverstates: boolean;
  /** MKCOL and extended MKCOL (creating a second address book): 400 (vdirsyncer #1063 [2024]) or 405. */
  mkcolStatus: 400 | 405;
  /** The well-known 301's Location: a relative path ending in `/` (mcds #15 [2021]) or an absolute URL. */
  wellKnownLocation: 'relative' | 'absolute';
  /** CardDAV also answers under the second host's prefix, emulated as the path prefix `/apidata.googleusercontent.com` (DAVx5 `OAuthGoogle.kt`). */
  alternatePrefix: boolean;
  /** The book names itself as DAV:add-member (a 2016 capture), so creates POST to the book. false: no add-member. */
  addMember: boolean;
  /** addressbook-query without a filter answers 400 (lambdabaa/dav). false: every card matches (RFC 6352 s10.5). */
  queryRequiresFilter: boolean;
  /** text-match compares case-sensitively whatever the collation (lambdabaa/dav). false: the collation decides. */
  queryCaseSensitive: boolean;
  /**
   * A negated text-match is the negation of "some instance matches": a card without the property matches,
   * one with a matching and a non-matching instance does not (carddavclient QUIRKS, Google tracker 178251714).
   * false: RFC 6352 s10.5.4 (some instance does not match).
   */
  queryNegationBroken: boolean;
  /** address-data asked with <card:prop> children returns the whole card (gcardvault [2021]); false: only those properties. */
  addressDataWholeCard: boolean;
  /** Every 400 says only "Request contains an invalid argument." (TbSync #451, a catch-all); false: a specific message. */
  invalidArgumentCatchAll: boolean;
  /** Body of a 401: the GData XML some clients saw (carddavclient #24) or the JSON of errorFormat. */
  unauthorizedFormat: 'json' | 'gdata-xml';
  /**
   * Failed requests (4xx/5xx) an account may make before every further request is refused with
   * `errorQuotaStatus` (evolution-data-server 873ac1492: failures count against an error quota).
   * The real limit is unknown: undefined (the default) counts without refusing.
   */
  errorQuota: number | undefined;
  errorQuotaStatus: 403 | 429;
  /** Where PROPFIND /.well-known/carddav redirects: the address book (Google, mcds #15) or the principal. */
  wellKnownTarget: 'addressbook' | 'principal';
  /** Principal and home-set PROPFINDs answer 404 (vdirsyncer): discovery must cope with landing on the book. */
  principalNotFound: boolean;
  /** 401 carries `WWW-Authenticate: Bearer realm="Google APIs"`; false: only `realm="Google APIs"` (carddavclient). */
  bearerChallenge: boolean;
  /** OPTIONS status; Google has been seen answering 404, 200, and since 2021 400 (evolution-data-server adbd6fc07). */
  optionsStatus: 200 | 400 | 404;
  /** false (Google, rcmcarddav #258): getcontenttype comes back in a 404 propstat. */
  contentTypeInPropfind: boolean;
  /** An empty <sync-token/> in sync-collection answers 400 (Google); false: RFC 6578 initial sync. */
  rejectEmptySyncToken: boolean;
  /** sync-collection with Depth 0 (what RFC 6578 requires) returns no members but a fresh token (Google). */
  depth0LooksUnchanged: boolean;
  /** Return at most N members per sync-collection, then a 507 number-of-matches-within-limits. */
  truncateAfter: number | undefined;
  /** Contact ids reported as removed by every sync-collection although they exist (Google issue 160192237). */
  phantomDeletes: string[];
  /** Re-report removals from before the token as well (the other face of issue 160192237). */
  replayOldDeletes: boolean;
  /** false: no sync-collection (REPORT answers 403 supported-report, no sync-token property). */
  syncCollectionSupported: boolean;
  /** Lifetime of a sync token on the emulator clock (Google documents 29 days). */
  syncTokenTtlSeconds: number;
  /** PUT/DELETE If-Match: honour (412, documented), ignore (carddavclient 496cc35), stale400 (400 INVALID_ARGUMENT). */
  ifMatch: 'honour' | 'ignore' | 'stale400';
  /** ETag header on a create (POST, or PUT to a new name); Google sends none. */
  etagOnCreate: boolean;
  /** ETag header on an update PUT. */
  etagOnUpdate: boolean;
  /** PUT to an unknown name: create under a server-chosen id (Google) or under the name given (RFC). */
  putToNewName: 'newId' | 'asNamed';
  /** Location header on a PUT that created; without it the client cannot know where the card went. */
  locationOnPutCreate: boolean;
  /** Largest vCard accepted (about 128 KB on Google). */
  maxCardBytes: number;
  /** Status for a card over maxCardBytes. */
  oversizeStatus: 413 | 400;
  /** Creates over HTTP beyond this many contacts answer 403 (Google: 25,000 per account). Seeding is not limited. */
  maxContacts: number;
  /** CATEGORIES are not kept (not mapped to contact groups; vdirsyncer #814). */
  dropCategories: boolean;
  /** BDAY without a year is dropped on write (seen on Google). */
  dropYearlessBday: boolean;
  /** Body of non-DAV errors: JSON (Google APIs) or application/vnd.google.gdata.error+xml (vdirsyncer #1056). */
  errorFormat: 'json' | 'gdata-xml';
  // ---- Card content and writes (google-quirks.md "Observed since", Writes and card content) ----
  /**
   * A TYPE value outside RFC 2426 on EMAIL, TEL or ADR (`PERSONAL`, `SCHOOL`) makes PUT/POST answer
   * `400 INVALID_ARGUMENT` (mattogodoy/nametag bd71618 [2026]). Accepted: RFC 2426's values for the
   * property, RFC 6350's for TEL, x-names, and what Google writes itself (OTHER, MAIN, IPHONE).
   * false: such values are dropped silently, as carddavclient QUIRKS saw earlier.
   */
  rejectCustomTypes: boolean;
  /** PUT/POST of a card without FN (or an empty one) answers 400 (jobisoft/TbSync #451). false: stored. */
  rejectMissingFn: boolean;
  /** PUT to a deleted resource name answers 400 (nametag c3784d8). false: treated as a PUT to a new name. */
  rejectPutToDeleted: boolean;
  /**
   * UID is replaced by the resource name, a hex number of 14-16 digits (carddavclient NOTES.md; gcardvault;
   * pimutils/vdirsyncer #849). false: the client's UID is kept (RFC 6352 5.1); the resource name only when none.
   */
  uidFromResourceName: boolean;
  /**
   * TYPE=PREF is added to the first EMAIL, TEL and IMPP unless one of them has it (mstilkerich/carddavclient
   * 289f0ec [2025]). false: no PREF is added; one the client sent is kept.
   */
  addFirstPref: boolean;
  /** TYPE values come back upper-cased (carddavclient tests). false: the kept value keeps the client's case. */
  upperCaseTypes: boolean;
  /**
   * PRODID: discarded, not replaced (carddavclient NOTES.md), Google's own (older reports), or the client's
   * kept (RFC). Seeded cards follow the switch.
   */
  prodid: 'discard' | 'google' | 'keep';
  /** REV is set to the time of the write (carddavclient NOTES.md). false: the client's REV is kept. */
  setRev: boolean;
  /**
   * Colons in URL values are escaped, `URL:http\://...` (sabre-io/vobject `Property/Uri.php`: "Google Contacts
   * specifically escapes the colon"). false: the value as sent (RFC 2426: a URI is not escaped).
   */
  escapeUrlColons: boolean;
  /**
   * ANNIVERSARY (4.0) and X-ANNIVERSARY (3.0) are stored and served as `itemN.X-ABDATE` with
   * `itemN.X-ABLabel:_$!<Anniversary>!$_` (GNOME/evolution-data-server I#517; nextcloud/contacts #223).
   * false: kept as sent.
   */
  anniversaryAsAbDate: boolean;
  /**
   * An inline PHOTO (base64 or data: URI) is stored as an `https://lh3.googleusercontent.com/contacts/...` URL.
   * On by default: every report that names a form (one client about CardDAV, Google's own export, the People
   * API) names a URL and none inline data; google-quirks.md calls it likely but uncertain. false: inline kept.
   * Seeded photos stay inline unless SeedParams.photoAsUrl says otherwise (benchmarks size cards with them).
   */
  photoAsUrl: boolean;
}

export const DEFAULT_QUIRKS: Readonly<Quirks> = Object.freeze({
  okPropstatWithoutProp: true,
  contactDisplayName: true,
  principalHrefWithoutSlash: true,
  ctagFormat: 'counter',
  addressBookDescription: true,
  syncTokenInHomeListing: false,
  maxResourceSizeProp: false,
  optionsOverstates: true,
  mkcolStatus: 400,
  wellKnownLocation: 'relative',
  alternatePrefix: true,
  addMember: true,
  queryRequiresFilter: true,
  queryCaseSensitive: true,
  queryNegationBroken: true,
  addressDataWholeCard: true,
  invalidArgumentCatchAll: true,
  unauthorizedFormat: 'json',
  errorQuota: undefined,
  errorQuotaStatus: 403,
  wellKnownTarget: 'addressbook',
  principalNotFound: false,
  bearerChallenge: true,
  optionsStatus: 400,
  contentTypeInPropfind: false,
  rejectEmptySyncToken: true,
  depth0LooksUnchanged: true,
  truncateAfter: undefined,
  phantomDeletes: [],
  replayOldDeletes: false,
  syncCollectionSupported: true,
  syncTokenTtlSeconds: 29 * 24 * 3600,
  ifMatch: 'honour',
  etagOnCreate: false,
  etagOnUpdate: true,
  putToNewName: 'newId',
  locationOnPutCreate: true,
  maxCardBytes: 128 * 1024,
  oversizeStatus: 413,
  maxContacts: 25_000,
  dropCategories: true,
  dropYearlessBday: false,
  errorFormat: 'json',
  rejectCustomTypes: true,
  rejectMissingFn: true,
  rejectPutToDeleted: true,
  uidFromResourceName: true,
  addFirstPref: true,
  upperCaseTypes: true,
  prodid: 'discard',
  setRev: true,
  escapeUrlColons: true,
  anniversaryAsAbDate: true,
  photoAsUrl: true,
} satisfies Quirks);

export function mergeQuirks(base: Quirks, patch: Partial<Quirks> | undefined): Quirks {
  const next: Quirks = { ...base };
  if (!patch) return next;
  const target = next as unknown as Record<string, unknown>;
  for (const key of Object.keys(patch) as (keyof Quirks)[]) {
    // An explicit `undefined` resets a switch to its default (e.g. truncateAfter off).
    const value = patch[key];
    target[key] = value === undefined ? DEFAULT_QUIRKS[key] : value;
  }
  next.phantomDeletes = [...next.phantomDeletes];
  return next;
}
