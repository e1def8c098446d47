// Keel's custom search attributes. The dev launcher, CI and the test harness register exactly these
// (`temporal server start-dev --search-attribute Name=Type`), and production registers them once with
// `temporal operator search-attribute create` (README). SQLite/PostgreSQL visibility allows 10 Keyword
// and 3 of each other type per namespace, so each one must earn its place.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const BookingStatusKey = defineSearchAttributeKey('BookingStatus', SearchAttributeType.KEYWORD);
export const CarIdKey = defineSearchAttributeKey('CarId', SearchAttributeType.KEYWORD);
export const CustomerIdKey = defineSearchAttributeKey('CustomerId', SearchAttributeType.KEYWORD);
/** When the booking's next timed transition is due: `NextTransitionAt < now` finds stuck work. */
export const NextTransitionAtKey = defineSearchAttributeKey('NextTransitionAt', SearchAttributeType.DATETIME);

/** Name=Type pairs in the Temporal CLI's spelling. */
export const SEARCH_ATTRIBUTES: ReadonlyArray<{ name: string; cliType: string }> = [
  { name: 'BookingStatus', cliType: 'Keyword' },
  { name: 'CarId', cliType: 'Keyword' },
  { name: 'CustomerId', cliType: 'Keyword' },
  { name: 'NextTransitionAt', cliType: 'Datetime' },
];
