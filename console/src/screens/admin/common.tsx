// What the three Administration sections share: a list paged with the API's
// cursors and the summary of a failed form.
import { useState } from 'preact/hooks';
import type { ApiError } from '../../api/client';
import { useLoad, type Loadable } from '../../components/async';
import { cursorStack, ErrorNotice, Pager } from '../../components/ui';

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

/**
 * One page of a list at a time, the cursors of the pages before it kept so the
 * person can page back. `reload` asks for the page shown again (after a change).
 */
export function usePagedList<T>(load: (cursor: string | undefined) => Promise<Page<T>>, label: string) {
  const [stack, setStack] = useState<string[]>(['']);
  const cursors = cursorStack(stack);
  const [loaded, reload] = useLoad(() => load(cursors.current), [cursors.current]);
  const pager = (
    <Pager
      label={label}
      hasPrevious={cursors.hasPrevious}
      nextCursor={loaded.state === 'ready' ? loaded.data.next_cursor : null}
      onPrevious={() => setStack(cursors.previous())}
      onNext={(cursor) => setStack(cursors.next(cursor))}
    />
  );
  /** After a delete emptied a later page, show the one before it. */
  const afterDelete = async (remaining: number) => {
    if (remaining === 0 && cursors.hasPrevious) setStack(cursors.previous());
    else await reload();
  };
  return { loaded: loaded as Loadable<Page<T>>, reload, pager, afterDelete, firstPage: !cursors.hasPrevious };
}

/**
 * The error of a submitted form. A 422 whose details name fields shown next to
 * them gets a pointer to those fields; anything else is said here in full.
 */
export function FormError({ error, shown }: { error: ApiError | null; shown: string[] }) {
  if (!error) return null;
  const fields = error.status === 422 ? Object.keys(error.fieldErrors()) : [];
  if (fields.length > 0 && fields.every((field) => shown.includes(field))) {
    return (
      <div class="notice notice-error" role="alert">
        <p>Nothing was saved: check the fields marked below.</p>
      </div>
    );
  }
  return <ErrorNotice error={error} />;
}

/** A field's error: the first of several API locations that names it. */
export function errorFor(errors: Record<string, string>, ...fields: string[]): string | undefined {
  for (const field of fields) if (errors[field]) return errors[field];
  return undefined;
}
