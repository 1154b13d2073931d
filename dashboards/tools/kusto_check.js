// Parse and semantically analyse KQL with Kusto.Language (Microsoft's parser, as JavaScript).
// stdin: {"schema": {"table": "(col:type, ...)"}, "queries": {"name": "text"}}
// stdout: {"name": [{"severity", "code", "message", "start", "length"}]}
const path = require('path');
const pkg = path.join(__dirname, 'node_modules', '@kusto', 'language-service-next');
require(path.join(pkg, 'bridge.js'));
require(path.join(pkg, 'Kusto.Language.Bridge.js'));

const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const S = Kusto.Language.Symbols;
const tables = Object.entries(input.schema).map(
  ([name, schema]) => new S.TableSymbol.$ctor7(name, schema, null));
const globals = Kusto.Language.GlobalState.Default.WithDatabase(
  new S.DatabaseSymbol.$ctor1('appinsights', tables));
const out = {};
for (const [name, text] of Object.entries(input.queries)) {
  const diagnostics = Kusto.Language.KustoCode.ParseAndAnalyze(text, globals).GetDiagnostics();
  out[name] = [];
  for (let i = 0; i < diagnostics.Count; i++) {
    const d = diagnostics.getItem(i);
    out[name].push({severity: d.Severity, code: d.Code, message: d.Message,
                    start: d.Start, length: d.Length});
  }
}
process.stdout.write(JSON.stringify(out));
