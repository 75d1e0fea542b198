// What a key may do on a feed, as the contract orders the roles: a viewer
// reads and checks, an assessor also assesses, a manager also changes the
// feed's packages, sources, permissions and scans. The admin may do all.
export type Role = 'viewer' | 'assessor' | 'manager' | 'admin';

const RANK: Record<Role, number> = { viewer: 1, assessor: 2, manager: 3, admin: 4 };

export function roleOf(value: string | null | undefined): Role | null {
  return value === 'viewer' || value === 'assessor' || value === 'manager' || value === 'admin' ? value : null;
}

export function may(role: Role | null, needed: Role): boolean {
  return role !== null && RANK[role] >= RANK[needed];
}

export const canAssess = (role: Role | null) => may(role, 'assessor');
export const canManage = (role: Role | null) => may(role, 'manager');
