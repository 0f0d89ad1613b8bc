// A small checker for the JSON Schema subset /api/openapi.json uses ($ref, type, properties with
// required, items, enum, oneOf, nullable; integer and number). Objects with properties are closed: a field the document
// does not name is reported, so the document cannot fall behind the server.

export type JsonSchema = Readonly<Record<string, unknown>>;

export function validate(value: unknown, schema: JsonSchema, components: Readonly<Record<string, JsonSchema>>, at = '$'): string[] {
  const ref = schema.$ref;
  if (typeof ref === 'string') {
    const name = ref.replace('#/components/schemas/', '');
    const target = components[name];
    return target === undefined ? [`${at}: unknown $ref ${ref}`] : validate(value, target, components, at);
  }
  if (value === null) return schema.nullable === true ? [] : [`${at}: null`];
  if (Array.isArray(schema.oneOf)) {
    const matches = (schema.oneOf as JsonSchema[]).filter((s) => validate(value, s, components, at).length === 0);
    return matches.length === 1 ? [] : [`${at}: matches ${matches.length} of the oneOf schemas`];
  }
  const errors: string[] = [];
  if (Array.isArray(schema.enum) && !(schema.enum as unknown[]).includes(value)) errors.push(`${at}: ${JSON.stringify(value)} not in enum`);
  switch (schema.type) {
    case undefined:
      return errors;
    case 'integer':
      if (!Number.isInteger(value)) errors.push(`${at}: not an integer`);
      return errors;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) errors.push(`${at}: not a number`);
      return errors;
    case 'string':
      if (typeof value !== 'string') errors.push(`${at}: not a string`);
      return errors;
    case 'boolean':
      if (typeof value !== 'boolean') errors.push(`${at}: not a boolean`);
      return errors;
    case 'array':
      if (!Array.isArray(value)) return [...errors, `${at}: not an array`];
      value.forEach((v, i) => errors.push(...validate(v, (schema.items as JsonSchema | undefined) ?? {}, components, `${at}[${i}]`)));
      return errors;
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) return [...errors, `${at}: not an object`];
      const o = value as Record<string, unknown>;
      for (const r of (schema.required as string[] | undefined) ?? []) if (!(r in o)) errors.push(`${at}: missing ${r}`);
      const props = schema.properties as Record<string, JsonSchema> | undefined;
      if (props === undefined) return errors;
      for (const [k, v] of Object.entries(o)) {
        const p = props[k];
        if (p === undefined) errors.push(`${at}: undocumented field ${k}`);
        else errors.push(...validate(v, p, components, `${at}.${k}`));
      }
      return errors;
    }
    default:
      return [...errors, `${at}: unsupported schema type ${String(schema.type)}`];
  }
}
