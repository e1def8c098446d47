// What personal data each role reads (README "Roles and personal data"). Applied to a verb's answer
// by the route, so the verbs stay role-free and every read path of a resource shares one rule.
//
//   report reporter and contact   service, operator, commander (they file reports and call back)
//   delivery promo code           service, operator (they run campaigns and answer customers)
//   viewer                        neither: dashboards and read-only screens need counts and states
//
// Recipient addresses are never in an API answer for any role (deliveries name the user id), and
// provider error texts are stored with addresses redacted (providers/redacting.ts).
import type { Role } from './auth';

const SEES_REPORT_CONTACT: readonly Role[] = ['service', 'operator', 'commander'];
const SEES_PROMO_CODES: readonly Role[] = ['service', 'operator'];

type Hidden<T, K extends keyof T> = Omit<T, K> & { [P in K]: T[P] | null };

export function reportForRole<T extends { reporter: string; contact: string }>(report: T, role: Role): Hidden<T, 'reporter' | 'contact'> {
  return SEES_REPORT_CONTACT.includes(role) ? report : { ...report, reporter: null, contact: null };
}

export function deliveryForRole<T extends { promoCode: string | null }>(delivery: T, role: Role): T {
  return SEES_PROMO_CODES.includes(role) ? delivery : { ...delivery, promoCode: null };
}
