// Parses and validates an AsyncAPI document with the AsyncAPI project's own parser, checks every message example
// against its message's payload schema (the parser does not), and prints the document with every $ref resolved, as
// JSON, for the tests to read the channels, messages and examples from.
// Usage: node check.mjs <asyncapi.yaml>   (exit 1 with the problems on stderr when it is not valid)
import { readFile } from 'node:fs/promises';
import { Parser, DiagnosticSeverity } from '@asyncapi/parser';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';

const file = process.argv[2];
const parser = new Parser();
const { document, diagnostics } = await parser.parse(await readFile(file, 'utf8'), { source: file });
let failed = false;
for (const d of diagnostics) {
  const error = d.severity === DiagnosticSeverity.Error;
  failed ||= error;
  console.error(`${error ? 'error' : 'note'} ${d.code} at ${d.path.join('.')}: ${d.message}`);
}
if (!document || failed) process.exit(1);

const resolved = document.json();
// AsyncAPI schemas are JSON Schema draft 7 plus a few keywords of their own (and the parser's x- annotations).
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addFormat('int64', { type: 'number', validate: n => Number.isInteger(n) });
for (const [name, message] of Object.entries(resolved.components?.messages ?? {})) {
  if (!message.payload) continue;
  const validate = ajv.compile(message.payload);
  for (const example of message.examples ?? []) {
    if (!validate(example.payload)) {
      failed = true;
      console.error(`error: example ${example.name ?? '?'} of ${name} does not match its payload schema: ${ajv.errorsText(validate.errors)}`);
    }
  }
}
if (failed) process.exit(1);
process.stdout.write(JSON.stringify(resolved));
