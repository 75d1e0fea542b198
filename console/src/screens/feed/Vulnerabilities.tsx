import type { FeedTabProps } from './FeedScreen';

// Being written.
export function VulnerabilitiesTab(_props: FeedTabProps) {
  return <p>Coming.</p>;
}
