// Personal data out of free text that Keel did not write: a provider's error message often echoes the
// recipient ("550 5.1.1 <ana@example.com>: mailbox unavailable"). Such texts go to logs, workflow
// histories (activity failures) and deliveries.last_error, so they are redacted where they enter.
// Pure and linear in the input (the input is capped first, the patterns cannot backtrack far).

export const REDACTED_ADDRESS = '[redacted]';

/** Longest provider text kept: enough for a diagnosis, bounded for every pattern below. */
export const MAX_PROVIDER_TEXT = 500;

// Anything shaped like an e-mail address, and runs of 7+ digits (with the usual separators), which
// is what a phone number looks like in a message; push tokens are caught as the known address.
const EMAIL = /[^\s@<>()[\]"',;:]{1,64}@[^\s@<>()[\]"',;:]{1,255}/g;
const PHONE = /\+?\d(?:[ .()-]{0,2}\d){6,19}/g;

/**
 * The text with every known address (the message's `to`) and anything shaped like an e-mail address
 * or a phone number replaced by [redacted], cut to MAX_PROVIDER_TEXT characters.
 */
export function redactAddresses(text: string, known: readonly (string | undefined)[] = []): string {
  let out = text.length > MAX_PROVIDER_TEXT ? `${text.slice(0, MAX_PROVIDER_TEXT)}…` : text;
  for (const k of known) {
    if (k && k.length >= 3) out = out.split(k).join(REDACTED_ADDRESS);
  }
  return out.replace(EMAIL, REDACTED_ADDRESS).replace(PHONE, REDACTED_ADDRESS);
}
