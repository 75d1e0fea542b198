import type { FeedTabProps } from './FeedScreen';

// Being written.
export function PackagesTab(_props: FeedTabProps) {
  return <p>Coming.</p>;
}
