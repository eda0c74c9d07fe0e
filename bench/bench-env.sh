# Secrets of bench/lienthong-bench.toml (the mocks' documented demo credentials; bench only).
# Sourced by the bench scripts.
export LIENTHONG_BENCH_C06_SECRET=demo-c06-secret
export LIENTHONG_BENCH_C06_APIKEY=demo-c06-apikey
export LIENTHONG_BENCH_NGSP_SECRET=demo-ngsp-secret
export LIENTHONG_BENCH_AUDIT_KEY=bench-only-audit-subject-key-not-for-production
