DROP TABLE stock_snapshots;
DROP TABLE stock_clients;