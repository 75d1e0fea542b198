import { ApiError, call, client } from './api/client';
import type { Identity } from './session';

/** Who a key is (GET /me), asked with that key before it is kept. */
export async function whoIs(key: string): Promise<Identity> {
  const me = await call(client.GET('/me', { headers: { Authorization: `Bearer ${key}` } }));
  return { id: me.id, name: me.name, admin: me.admin };
}

export function signInMessage(error: ApiError): string {
  if (error.status === 401 || error.status === 403) return 'That key was not accepted. Check it and try again.';
  return error.message;
}
