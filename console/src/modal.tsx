import type { ComponentChildren } from 'preact';

/** A confirmation dialog (not window.confirm: testable, and styled like the rest). */
export function Modal(props: { title: string; children: ComponentChildren; onClose: () => void }) {
  return (
    <div class="modal-backdrop" onClick={(e) => e.target === e.currentTarget && props.onClose()}>
      <div class="modal" role="dialog" aria-modal="true" aria-label={props.title}>
        <h2>{props.title}</h2>
        {props.children}
      </div>
    </div>
  );
}
