/**
 * Order input: `{ item, quantity }` where item is a SKU (lower-case letters, digits and dashes)
 * and quantity a whole number from 1 to 1000. Sanitisation repairs what it safely can: surrounding
 * whitespace and upper case in the SKU, a quantity sent as a string of digits.
 */

export interface Order {
  item: string;
  quantity: number;
}

export type OrderCheck = { ok: true; order: Order } | { ok: false; field: string; message: string };

const SKU = /^[a-z0-9][a-z0-9-]{0,63}$/;

export function checkOrder(body: unknown): OrderCheck {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, field: 'body', message: 'the order must be a JSON object { item, quantity }' };
  }
  const { item, quantity } = body as Record<string, unknown>;
  if (typeof item !== 'string' || !SKU.test(item)) {
    return { ok: false, field: 'item', message: `item must be a SKU (a-z, 0-9, -), got ${JSON.stringify(item) ?? 'nothing'}` };
  }
  if (typeof quantity !== 'number' || !Number.isInteger(quantity) || quantity < 1 || quantity > 1000) {
    return { ok: false, field: 'quantity', message: `quantity must be an integer from 1 to 1000, got ${JSON.stringify(quantity) ?? 'nothing'}` };
  }
  return { ok: true, order: { item, quantity } };
}

/** The order repaired, when the input is fixable; the original problem otherwise. */
export function sanitizeOrder(body: unknown): OrderCheck {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return checkOrder(body);
  const raw = body as Record<string, unknown>;
  const item = typeof raw.item === 'string' ? raw.item.trim().toLowerCase() : raw.item;
  const quantity = typeof raw.quantity === 'string' && /^\s*\d+\s*$/.test(raw.quantity) ? Number(raw.quantity.trim()) : raw.quantity;
  return checkOrder({ item, quantity });
}

/**
 * Processing an order: pricing it against the inventory. Input that did not go through
 * validation fails here, deep in the handler, with an exception (the app answers 500).
 */
export function processOrder(body: unknown): Order & { total: number } {
  const c = checkOrder(body);
  if (!c.ok) throw new Error(`order processing failed: ${c.message}`);
  const { item, quantity } = c.order;
  const unit = 1 + (item.length % 7) * 1.25;
  return { item, quantity, total: Math.round(unit * quantity * 100) / 100 };
}
