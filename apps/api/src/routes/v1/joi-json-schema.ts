import type Joi from 'joi';

/** JSON Schema (OpenAPI 3.1 dialect) for the subset of joi the /v1 routes use. */
export type JsonSchema = { [key: string]: unknown };

interface Description {
  type?: string;
  flags?: { presence?: string; only?: boolean; default?: unknown; description?: string };
  allow?: unknown[];
  rules?: { name: string; args?: Record<string, unknown> }[];
  keys?: Record<string, Description>;
  items?: Description[];
  matches?: { schema: Description }[];
}

function ruleArg(description: Description, name: string, arg: string): unknown {
  return description.rules?.find((rule) => rule.name === name)?.args?.[arg];
}

function regexSource(value: unknown): string | undefined {
  if (typeof value === 'string') return value.replace(/^\/(.*)\/[a-z]*$/, '$1');
  if (value && typeof value === 'object' && 'regex' in value) return String((value as { regex: string }).regex).replace(/^\/(.*)\/[a-z]*$/, '$1');
  return undefined;
}

function stringSchema(description: Description): JsonSchema {
  const schema: JsonSchema = { type: 'string' };
  const pattern = regexSource(ruleArg(description, 'pattern', 'regex'));
  if (pattern) schema.pattern = pattern;
  const min = ruleArg(description, 'min', 'limit');
  const max = ruleArg(description, 'max', 'limit');
  if (typeof min === 'number') schema.minLength = min;
  if (typeof max === 'number') schema.maxLength = max;
  if (description.rules?.some((rule) => rule.name === 'email')) schema.format = 'email';
  if (description.rules?.some((rule) => rule.name === 'isoDate')) schema.format = 'date-time';
  if (description.rules?.some((rule) => rule.name === 'guid')) schema.format = 'uuid';
  return schema;
}

function numberSchema(description: Description): JsonSchema {
  const integer = description.rules?.some((rule) => rule.name === 'integer');
  const schema: JsonSchema = { type: integer ? 'integer' : 'number' };
  const min = ruleArg(description, 'min', 'limit');
  const max = ruleArg(description, 'max', 'limit');
  if (typeof min === 'number') schema.minimum = min;
  if (typeof max === 'number') schema.maximum = max;
  return schema;
}

function convert(description: Description): JsonSchema {
  let schema: JsonSchema;
  switch (description.type) {
    case 'object': {
      const properties: Record<string, JsonSchema> = {};
      const required: string[] = [];
      for (const [key, child] of Object.entries(description.keys ?? {})) {
        properties[key] = convert(child);
        if (child.flags?.presence === 'required') required.push(key);
      }
      schema = { type: 'object', properties, additionalProperties: false };
      if (required.length > 0) schema.required = required;
      break;
    }
    case 'string':
      schema = stringSchema(description);
      break;
    case 'number':
      schema = numberSchema(description);
      break;
    case 'boolean':
      schema = { type: 'boolean' };
      break;
    case 'date':
      schema = { type: 'string', format: 'date-time' };
      break;
    case 'array':
      schema = { type: 'array', items: description.items?.[0] ? convert(description.items[0]) : {} };
      break;
    case 'alternatives':
      schema = { anyOf: (description.matches ?? []).map((match) => convert(match.schema)) };
      break;
    default:
      schema = {};
  }
  const allowed = description.allow ?? [];
  if (description.flags?.only) {
    schema.enum = allowed;
  } else if (allowed.includes(null) && typeof schema.type === 'string') {
    schema.type = [schema.type, 'null'];
  }
  if (description.flags?.default !== undefined && typeof description.flags.default !== 'function') schema.default = description.flags.default;
  if (description.flags?.description) schema.description = description.flags.description;
  return schema;
}

export function joiToJsonSchema(schema: Joi.Schema): JsonSchema {
  return convert(schema.describe() as Description);
}
