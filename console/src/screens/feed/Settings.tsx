import type { FeedTabProps } from './FeedScreen';

// Being written.
export function SettingsTab(_props: FeedTabProps) {
  return <p>Coming.</p>;
}
