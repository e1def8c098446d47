// Who asked for a change, carried with every command into workflows, activities and stores (the event
// and audit rows record it). Declared once here.
export interface RequestMeta {
  /** `<role>:<key id>` of an API caller, `system` for timers, `system:<component>` for Keel's own tools. */
  actor: string;
  requestId?: string;
}
