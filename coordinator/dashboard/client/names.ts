/**
 * Names, not ids (issue 15): a name as the API answers it beside an id, with the id on hover and a
 * button that copies it; the id itself (short) when there is no name.
 */
import { h, svg, toast, type Child } from './dom.js';

/** Two overlapping sheets: the copy icon (a glyph would need a font that has it). */
const copyIcon = () =>
  svg(
    'svg',
    {
      viewBox: '0 0 16 16',
      'aria-hidden': 'true',
      fill: 'none',
      stroke: 'currentColor',
      'stroke-width': 1.5,
    },
    svg('rect', { x: 5, y: 5, width: 9, height: 9, rx: 1.5 }),
    svg('path', { d: 'M11 3.5V3a1.5 1.5 0 0 0-1.5-1.5h-6A1.5 1.5 0 0 0 2 3v6.5A1.5 1.5 0 0 0 3.5 11H4' }),
  );

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
      copyIcon(),
    ),
  );
}
