// Administration (the admin key only): the sources scans use, the assessment
// types people assess with, and the API keys feeds grant roles to.
import { PageHeader, Tabs } from '../../components/ui';
import { href, type AdminSection } from '../../router';
import { KeysSection } from './Keys';
import { SourcesSection } from './Sources';
import { TypesSection } from './Types';

const SECTION_LABEL: Record<AdminSection, string> = {
  sources: 'Vulnerability sources',
  types: 'Assessment types',
  keys: 'API keys',
};

export function AdminScreen({ section }: { section: AdminSection }) {
  return (
    <>
      <PageHeader title="Administration" />
      <Tabs
        label="Administration sections"
        tabs={(Object.keys(SECTION_LABEL) as AdminSection[]).map((name) => ({
          href: href({ name: 'admin', section: name }),
          label: SECTION_LABEL[name],
          current: name === section,
        }))}
      />
      <section class="tab-panel" aria-label={SECTION_LABEL[section]}>
        {section === 'sources' && <SourcesSection />}
        {section === 'types' && <TypesSection />}
        {section === 'keys' && <KeysSection />}
      </section>
    </>
  );
}
