import { call, client, type Schemas } from '../../api/client';
import { useLoad } from '../../components/async';
import { EffectBadge, ErrorNotice, Loading, PageHeader, Tabs } from '../../components/ui';
import { roleOf, type Role } from '../../roles';
import { href, type FeedTab } from '../../router';
import { ExportVex } from './ExportVex';
import { PackagesTab } from './Packages';
import { SettingsTab } from './Settings';
import { LastScanText, lastScanOf } from './parts';
import { VulnerabilitiesTab } from './Vulnerabilities';

export type FeedDetail = Schemas['FeedDetail'];

/** What every tab of a feed's page gets. */
export interface FeedTabProps {
  feed: string;
  detail: FeedDetail;
  role: Role | null;
  /** Load the feed again (counts, sources, last scan) after a change. */
  reloadFeed: () => Promise<void>;
  query: URLSearchParams;
}

const TAB_LABEL: Record<FeedTab, string> = {
  vulnerabilities: 'Vulnerabilities',
  packages: 'Packages',
  settings: 'Settings',
};

export function FeedScreen({ feed, tab, query }: { feed: string; tab: FeedTab; query: URLSearchParams }) {
  const [loaded, reload] = useLoad(
    () => call(client.GET('/feeds/{feed}', { params: { path: { feed } } })),
    [feed],
  );
  const detail = loaded.data;
  if (!detail) {
    if (loaded.state === 'failed') {
      return (
        <>
          <PageHeader title={feed} />
          <ErrorNotice error={loaded.error} onRetry={reload} />
          <p>
            <a href={href({ name: 'feeds' })}>Back to the feeds</a>
          </p>
        </>
      );
    }
    return <Loading label={`Loading ${feed}…`} />;
  }
  const role = roleOf(detail.role);
  const props: FeedTabProps = { feed, detail, role, reloadFeed: reload, query };
  return (
    <>
      <p class="breadcrumb">
        <a href={href({ name: 'feeds' })}>Feeds</a> <span aria-hidden="true">/</span>
      </p>
      <PageHeader title={detail.name}>
        <span class="meta">
          Unassessed findings: <EffectBadge effect={detail.unassessed_effect} />
        </span>
        {role && <span class="meta">Your role: {role}</span>}
        {lastScanOf(detail) !== undefined && (
          <span class="meta">
            Last scan: <LastScanText scan={lastScanOf(detail)} />
          </span>
        )}
        <ExportVex feed={feed} />
      </PageHeader>
      {detail.description && <p class="lead">{detail.description}</p>}
      <dl class="counts" aria-label="Findings by status">
        <div>
          <dt>Unassessed</dt>
          <dd>{detail.counts.unassessed}</dd>
        </div>
        <div>
          <dt>Assessed</dt>
          <dd>{detail.counts.assessed}</dd>
        </div>
        <div>
          <dt>Expired</dt>
          <dd>{detail.counts.expired}</dd>
        </div>
      </dl>
      <Tabs
        label={`${detail.name} sections`}
        tabs={(Object.keys(TAB_LABEL) as FeedTab[]).map((name) => ({
          href: href({ name: 'feed', feed, tab: name }),
          label: TAB_LABEL[name],
          current: name === tab,
        }))}
      />
      <section class="tab-panel" aria-label={TAB_LABEL[tab]}>
        {tab === 'vulnerabilities' && <VulnerabilitiesTab {...props} />}
        {tab === 'packages' && <PackagesTab {...props} />}
        {tab === 'settings' && <SettingsTab {...props} />}
      </section>
    </>
  );
}
