/**
 * Names, not ids (issue 15): a name as the API answers it beside an id, with the id on hover and a
 * button that copies it; the id itself (short) when there is no name.
 */
import { h, toast, type Child } from './dom.js';

export function named(name: string | null | undefined, id: string | null | undefined, href?: string): Child {
  if (!id) return name ?? '';
  const label = name ?? id.slice(0, 8);
  const text = href ? h('a', { href, title: `id ${id}` }, label) : h('span', { title: `id ${id}` }, label);
  return h(
    'span',
    { class: 'named', 'data-id': id },
    text,
    h(
      'button',
      {
        type: 'button',
        class: 'copy-id',
        title: `Copy id ${id}`,
        'aria-label': `Copy id of ${label}`,
        onclick: () => {
          void navigator.clipboard?.writeText(id).then(
            () => toast('Id copied'),
            () => toast(`Id: ${id}`),
          );
        },
      },
      '⧉',
    ),
  );
}
