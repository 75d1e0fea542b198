import type { AdminSection } from '../../router';

// Being written.
export function AdminScreen(_props: { section: AdminSection }) {
  return <p>Coming.</p>;
}
