// duckdb_rfm.mjs - the RFM stage of `loyal analyze` as DuckDB SQL, end to end: read the
// import-layout CSV, make receipts, then per customer R (days since the last receipt), F
// (receipts) and M (money per receipt), each split 25% / 50% / 25% into levels 1..3, and
// the 27 cells with customers and revenue. Prints one RESULT line with the wall time.
//   node duckdb_rfm.mjs FILE.csv AS_OF(YYYY-MM-DD)
import { DuckDBInstance } from '@duckdb/node-api';

const [file, asOf] = process.argv.slice(2);
if (!file || !asOf) {
  console.error('usage: node duckdb_rfm.mjs FILE.csv AS_OF');
  process.exit(2);
}
const t0 = process.hrtime.bigint();
const db = await DuckDBInstance.create(':memory:');
const c = await db.connect();
// Quartile levels by rank with ties broken alike (percent_rank gives equal values equal
// ranks), as Loyal's tie rule: the 25% best get 3, the 25% worst 1.
const sql = `
WITH lines AS (
  SELECT receipt_id, time, customer_external_id AS customer,
         CAST(amount AS DECIMAL(18,2)) AS amount
  FROM read_csv('${file.replace(/'/g, "''")}', header = true, all_varchar = true)
  WHERE coalesce(return_of, '') = '' AND coalesce(customer_external_id, '') <> ''
), receipts AS (
  SELECT customer, receipt_id, min(CAST(time AS TIMESTAMPTZ)) AS t, sum(amount) AS total
  FROM lines GROUP BY customer, receipt_id
), cust AS (
  SELECT customer,
         date_diff('day', CAST(max(t) AS DATE), DATE '${asOf}') AS r,
         count(*) AS f, sum(total) / count(*) AS m, sum(total) AS revenue
  FROM receipts GROUP BY customer
), ranked AS (
  SELECT *,
    CASE WHEN percent_rank() OVER (ORDER BY r DESC) >= 0.75 THEN 3
         WHEN percent_rank() OVER (ORDER BY r DESC) >= 0.25 THEN 2 ELSE 1 END AS rl,
    CASE WHEN percent_rank() OVER (ORDER BY f) >= 0.75 THEN 3
         WHEN percent_rank() OVER (ORDER BY f) >= 0.25 THEN 2 ELSE 1 END AS fl,
    CASE WHEN percent_rank() OVER (ORDER BY m) >= 0.75 THEN 3
         WHEN percent_rank() OVER (ORDER BY m) >= 0.25 THEN 2 ELSE 1 END AS ml
  FROM cust
)
SELECT rl, fl, ml, count(*) AS customers, sum(revenue) AS revenue
FROM ranked GROUP BY rl, fl, ml ORDER BY rl, fl, ml`;
const reader = await c.runAndReadAll(sql);
const rows = reader.getRows();
const t1 = process.hrtime.bigint();
let customers = 0;
for (const r of rows) customers += Number(r[3]);
const core = rows.find((r) => Number(r[0]) === 3 && Number(r[1]) === 3 && Number(r[2]) === 3);
console.log(`RESULT name=duckdb_rfm cells=${rows.length} customers=${customers} ` +
            `core_customers=${core ? Number(core[3]) : 0} wall_s=${(Number(t1 - t0) / 1e9).toFixed(3)}`);
