UPDATE pgbench_accounts SET abalance = abalance + 1;
