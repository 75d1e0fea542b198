// Being written.
export function GateScreen(_props: { query: URLSearchParams }) {
  return <p>Coming.</p>;
}
