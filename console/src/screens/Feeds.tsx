// Being written.
export function FeedsScreen() {
  return <p>Coming.</p>;
}
