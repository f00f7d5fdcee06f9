// duckdb_rfm.mjs - the RFM stage of `loyal analyze` as DuckDB SQL, end to end: read the
// import-layout CSV, make receipts, then per customer R (days since the last receipt), F
// (receipts) and M (revenue per receipt), each split 25% / 50% / 25% into levels 1..3 by
// Loyal's tie rule, and the 27 cells with customers and revenue. This is Loyal's RFM with
// every purchase a deal (`loyal analyze --no-addons`): revenue is the customer's sales minus
// the money of their returns (rows with return_of), R and F count sales only.
//   node duckdb_rfm.mjs FILE.csv AS_OF(YYYY-MM-DD)
// Prints one "CELL R F M customers revenue" line per cell with customers, then one RESULT
// line with the wall time (DuckDB start, CSV read and the query, until the rows are back).
//
// What matches Loyal (docs/analytics.md):
// - the customer key is the first non-empty of customer_external_id, customer_card,
//   customer_phone, customer_email, taken as written (the file has no `customer` column);
// - a receipt's day is the local date written in its time (the text before 'T');
// - a line's money is `amount`, else qty x price rounded to the cent; money is summed in
//   integer minor units (cents), M = revenue / F in double precision;
// - the tie rule: w = customers strictly worse (R: longer absence; F, M: smaller), N the
//   population; level 1 if 4w < N, 2 if 4w < 3N, else 3. rank() - 1 is exactly w.
//   (percent_rank() would be w / (N - 1), which moves customers at the cut points.)
import { DuckDBInstance } from '@duckdb/node-api';

const [file, asOf] = process.argv.slice(2);
if (!file || !/^\d{4}-\d{2}-\d{2}$/.test(asOf || '')) {
  console.error('usage: node duckdb_rfm.mjs FILE.csv AS_OF(YYYY-MM-DD)');
  process.exit(2);
}
const t0 = process.hrtime.bigint();
const db = await DuckDBInstance.create(':memory:');
const c = await db.connect();
const sql = `
WITH lines AS (
  SELECT receipt_id, time, coalesce(return_of, '') <> '' AS is_return,
         coalesce(nullif(customer_external_id, ''), nullif(customer_card, ''),
                  nullif(customer_phone, ''), nullif(customer_email, '')) AS customer,
         CAST(coalesce(CAST(amount AS DECIMAL(18,2)),
                       round(CAST(qty AS DECIMAL(18,3)) * CAST(price AS DECIMAL(18,4)), 2))
              * 100 AS BIGINT) AS cents
  FROM read_csv('${file.replace(/'/g, "''")}', header = true, all_varchar = true)
), receipts AS (
  SELECT customer, receipt_id, is_return, CAST(substr(min(time), 1, 10) AS DATE) AS d,
         sum(cents) AS total
  FROM lines WHERE customer IS NOT NULL GROUP BY customer, receipt_id, is_return
), cust AS (
  SELECT customer, date_diff('day', max(d) FILTER (WHERE NOT is_return), DATE '${asOf}') AS r,
         count(*) FILTER (WHERE NOT is_return) AS f,
         sum(CASE WHEN is_return THEN -total ELSE total END) AS revenue,
         CAST(sum(CASE WHEN is_return THEN -total ELSE total END) AS DOUBLE)
             / CAST(count(*) FILTER (WHERE NOT is_return) AS DOUBLE) AS m
  FROM receipts GROUP BY customer
  HAVING count(*) FILTER (WHERE NOT is_return) > 0
), ranked AS (
  SELECT *, count(*) OVER () AS n,
         rank() OVER (ORDER BY r DESC) - 1 AS wr,
         rank() OVER (ORDER BY f) - 1 AS wf,
         rank() OVER (ORDER BY m) - 1 AS wm
  FROM cust
), levels AS (
  SELECT CASE WHEN 4 * wr < n THEN 1 WHEN 4 * wr < 3 * n THEN 2 ELSE 3 END AS rl,
         CASE WHEN 4 * wf < n THEN 1 WHEN 4 * wf < 3 * n THEN 2 ELSE 3 END AS fl,
         CASE WHEN 4 * wm < n THEN 1 WHEN 4 * wm < 3 * n THEN 2 ELSE 3 END AS ml,
         revenue
  FROM ranked
)
SELECT rl, fl, ml, count(*) AS customers, sum(revenue) AS revenue
FROM levels GROUP BY rl, fl, ml ORDER BY rl DESC, fl DESC, ml DESC`;
const reader = await c.runAndReadAll(sql);
const rows = reader.getRows();
const t1 = process.hrtime.bigint();
let customers = 0;
for (const r of rows) {
  customers += Number(r[3]);
  console.log(`CELL ${r[0]} ${r[1]} ${r[2]} ${r[3]} ${r[4]}`);
}
const core = rows.find((r) => Number(r[0]) === 3 && Number(r[1]) === 3 && Number(r[2]) === 3);
console.log(`RESULT name=duckdb_rfm cells=${rows.length} customers=${customers} ` +
            `core_customers=${core ? Number(core[3]) : 0} wall_s=${(Number(t1 - t0) / 1e9).toFixed(3)}`);
