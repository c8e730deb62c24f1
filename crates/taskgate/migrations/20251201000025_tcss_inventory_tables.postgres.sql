-- The account's inventory lives in tables that a refresh's success rewrites in its completing
-- transaction (the lists filter, order and page it in SQL): each configured cluster's facts,
-- then the hosts, containers and images, each row with the refresh (`task_id`, the account's
-- numeric TaskId) that wrote it. A cluster's row also counts its containers (all, running,
-- paused, stopped) and images, recounted by each write, so the host list and the summary read
-- a few rows whatever the inventory's size. The refresh task's output keeps only how much it wrote.
-- Asset rows of cluster `''` are the host taskgate runs on, which has no cluster row. Text
-- compares byte by byte (`C`), as the lists' `By` orders it on SQLite.
CREATE TABLE tcss_clusters (
    account          TEXT COLLATE "C" NOT NULL,
    cluster_id       TEXT COLLATE "C" NOT NULL,
    name             TEXT COLLATE "C" NOT NULL,
    reachable        BOOLEAN  NOT NULL,
    error            TEXT COLLATE "C",
    runtime_version  TEXT COLLATE "C" NOT NULL,
    task_id          BIGINT   NOT NULL,
    container_cnt    BIGINT   NOT NULL DEFAULT 0,
    running_cnt      BIGINT   NOT NULL DEFAULT 0,
    paused_cnt       BIGINT   NOT NULL DEFAULT 0,
    stopped_cnt      BIGINT   NOT NULL DEFAULT 0,
    image_cnt        BIGINT   NOT NULL DEFAULT 0,
    PRIMARY KEY (account, cluster_id)
);

-- The host taskgate runs on (cluster '') and each cluster's nodes; `ord` keeps the collected
-- order within the cluster. (The host list shows a cluster without known nodes as one host.)
CREATE TABLE tcss_hosts (
    account         TEXT COLLATE "C" NOT NULL,
    cluster_id      TEXT COLLATE "C" NOT NULL,
    host_id         TEXT COLLATE "C" NOT NULL,
    ord             BIGINT  NOT NULL,
    host_name       TEXT COLLATE "C" NOT NULL,
    host_ip         TEXT COLLATE "C" NOT NULL,
    cores_cnt       BIGINT  NOT NULL,
    os_name         TEXT COLLATE "C" NOT NULL,
    kernel_version  TEXT COLLATE "C" NOT NULL,
    architecture    TEXT COLLATE "C" NOT NULL,
    memory_bytes    BIGINT  NOT NULL,
    task_id         BIGINT  NOT NULL,
    PRIMARY KEY (account, cluster_id, host_id)
);
CREATE UNIQUE INDEX tcss_hosts_order ON tcss_hosts (account, cluster_id, ord);

-- `status` is the upper-case state tcss shows (`RUNNING`, …, '' when unknown), `docker_status`
-- Docker's own status text; `host_name` the cluster's first node, where the list places it.
CREATE TABLE tcss_containers (
    account         TEXT COLLATE "C" NOT NULL,
    cluster_id      TEXT COLLATE "C" NOT NULL,
    container_id    TEXT COLLATE "C" NOT NULL,
    ord             BIGINT  NOT NULL,
    container_name  TEXT COLLATE "C" NOT NULL,
    image_name      TEXT COLLATE "C" NOT NULL,
    status          TEXT COLLATE "C" NOT NULL,
    docker_status   TEXT COLLATE "C" NOT NULL,
    created_at      BIGINT  NOT NULL,
    host_name       TEXT COLLATE "C" NOT NULL,
    task_id         BIGINT  NOT NULL,
    PRIMARY KEY (account, cluster_id, container_id)
);
-- The lists' default order (and the whole account's page), then each exact filter followed
-- by that order, so a page of one value's rows is read in order and its count off the index.
CREATE UNIQUE INDEX tcss_containers_order ON tcss_containers (account, cluster_id, ord);
CREATE INDEX tcss_containers_name ON tcss_containers (account, container_name, cluster_id, ord);
CREATE INDEX tcss_containers_status ON tcss_containers (account, status, cluster_id, ord);
CREATE INDEX tcss_containers_image ON tcss_containers (account, image_name, cluster_id, ord);

-- `image_name` is the first repository tag, `<none>` without one; `containers` as Docker
-- counted them (-1 when it did not).
CREATE TABLE tcss_images (
    account     TEXT COLLATE "C" NOT NULL,
    cluster_id  TEXT COLLATE "C" NOT NULL,
    image_id    TEXT COLLATE "C" NOT NULL,
    ord         BIGINT  NOT NULL,
    image_name  TEXT COLLATE "C" NOT NULL,
    repo_tags   TEXT COLLATE "C" NOT NULL,
    size_bytes  BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL,
    containers  BIGINT  NOT NULL,
    task_id     BIGINT  NOT NULL,
    PRIMARY KEY (account, cluster_id, image_id)
);
CREATE UNIQUE INDEX tcss_images_order ON tcss_images (account, cluster_id, ord);
CREATE INDEX tcss_images_name ON tcss_images (account, image_name, cluster_id, ord);
CREATE INDEX tcss_images_id ON tcss_images (account, image_id, cluster_id, ord);

-- Each account's inventory so far: the output of its latest succeeded refresh. A member an
-- output lacks reads as empty and an id repeated within a cluster is written once (the
-- first), so no old output can stop the upgrade.
CREATE TEMP TABLE tcss_latest AS
SELECT r.account, r.task_id, t.result::jsonb AS doc FROM tcss_refresh_tasks r JOIN tg_tasks t ON t.id = r.engine_task_id
WHERE t.state = 'succeeded' AND t.result IS NOT NULL AND r.task_id = (
    SELECT MAX(r2.task_id) FROM tcss_refresh_tasks r2 JOIN tg_tasks t2 ON t2.id = r2.engine_task_id
    WHERE r2.account = r.account AND t2.state = 'succeeded');

INSERT INTO tcss_clusters (account, cluster_id, name, reachable, error, runtime_version, task_id)
SELECT l.account, COALESCE(c->>'cluster_id', ''), COALESCE(c->>'name', ''), COALESCE((c->>'reachable')::boolean, FALSE),
       c->>'error', COALESCE(c->>'runtime_version', ''), l.task_id
FROM tcss_latest l, jsonb_array_elements(COALESCE(l.doc->'clusters', '[]')) c
ON CONFLICT DO NOTHING;

INSERT INTO tcss_hosts (account, cluster_id, host_id, ord, host_name, host_ip, cores_cnt, os_name, kernel_version,
                        architecture, memory_bytes, task_id)
SELECT l.account, '', 'host-' || COALESCE(l.doc#>>'{host,hostname}', ''), 0, COALESCE(l.doc#>>'{host,hostname}', ''),
       COALESCE(l.doc#>>'{host,ips,0}', ''), COALESCE((l.doc#>>'{host,cpu_count}')::bigint, 0),
       trim(COALESCE(l.doc#>>'{host,os_name}', '') || ' ' || COALESCE(l.doc#>>'{host,os_version}', '')),
       COALESCE(l.doc#>>'{host,kernel_version}', ''), '', COALESCE((l.doc#>>'{host,memory_bytes}')::bigint, 0),
       l.task_id
FROM tcss_latest l
UNION ALL
SELECT l.account, COALESCE(c->>'cluster_id', ''), COALESCE(c->>'cluster_id', '') || '-' || COALESCE(n.v->>'name', ''), n.i - 1, COALESCE(n.v->>'name', ''), '',
       COALESCE((n.v->>'cpu_count')::bigint, 0), COALESCE(n.v->>'os', ''), COALESCE(n.v->>'kernel_version', ''),
       COALESCE(n.v->>'architecture', ''), COALESCE((n.v->>'memory_bytes')::bigint, 0), l.task_id
FROM tcss_latest l, jsonb_array_elements(COALESCE(l.doc->'clusters', '[]')) c,
     jsonb_array_elements(COALESCE(c->'nodes', '[]')) WITH ORDINALITY n(v, i)
ON CONFLICT DO NOTHING;

INSERT INTO tcss_containers (account, cluster_id, container_id, ord, container_name, image_name, status, docker_status,
                             created_at, host_name, task_id)
SELECT l.account, COALESCE(c->>'cluster_id', ''), COALESCE(k.v->>'id', ''), k.i - 1, COALESCE(k.v->>'name', ''), COALESCE(k.v->>'image', ''),
       CASE WHEN k.v->>'state' IN ('created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead')
            THEN upper(k.v->>'state') ELSE '' END,
       COALESCE(k.v->>'status', ''), COALESCE((k.v->>'created_at')::bigint, 0), COALESCE(c#>>'{nodes,0,name}', ''),
       l.task_id
FROM tcss_latest l, jsonb_array_elements(COALESCE(l.doc->'clusters', '[]')) c,
     jsonb_array_elements(COALESCE(c->'containers', '[]')) WITH ORDINALITY k(v, i)
ON CONFLICT DO NOTHING;

INSERT INTO tcss_images (account, cluster_id, image_id, ord, image_name, repo_tags, size_bytes, created_at, containers,
                         task_id)
SELECT l.account, COALESCE(c->>'cluster_id', ''), COALESCE(m.v->>'id', ''), m.i - 1, COALESCE(m.v#>>'{repo_tags,0}', '<none>'),
       COALESCE((m.v->'repo_tags')::text, '[]'), COALESCE((m.v->>'size_bytes')::bigint, 0),
       COALESCE((m.v->>'created_at')::bigint, 0), COALESCE((m.v->>'containers')::bigint, -1), l.task_id
FROM tcss_latest l, jsonb_array_elements(COALESCE(l.doc->'clusters', '[]')) c,
     jsonb_array_elements(COALESCE(c->'images', '[]')) WITH ORDINALITY m(v, i)
ON CONFLICT DO NOTHING;

DROP TABLE tcss_latest;

UPDATE tcss_clusters SET
    container_cnt = (SELECT COUNT(*) FROM tcss_containers k
                     WHERE k.account = tcss_clusters.account AND k.cluster_id = tcss_clusters.cluster_id),
    running_cnt = (SELECT COUNT(*) FROM tcss_containers k
                   WHERE k.account = tcss_clusters.account AND k.cluster_id = tcss_clusters.cluster_id
                     AND k.status = 'RUNNING'),
    paused_cnt = (SELECT COUNT(*) FROM tcss_containers k
                  WHERE k.account = tcss_clusters.account AND k.cluster_id = tcss_clusters.cluster_id
                    AND k.status = 'PAUSED'),
    stopped_cnt = (SELECT COUNT(*) FROM tcss_containers k
                   WHERE k.account = tcss_clusters.account AND k.cluster_id = tcss_clusters.cluster_id
                     AND k.status IN ('EXITED', 'DEAD', 'CREATED')),
    image_cnt = (SELECT COUNT(*) FROM tcss_images i
                 WHERE i.account = tcss_clusters.account AND i.cluster_id = tcss_clusters.cluster_id);

-- Every refresh so far wrote its whole inventory: its output becomes how much that was.
UPDATE tg_tasks SET result = jsonb_build_object(
    'clusters', jsonb_array_length(result::jsonb->'clusters'),
    'containers', (SELECT COALESCE(SUM(jsonb_array_length(COALESCE(c->'containers', '[]'))), 0)
                   FROM jsonb_array_elements(tg_tasks.result::jsonb->'clusters') c),
    'images', (SELECT COALESCE(SUM(jsonb_array_length(COALESCE(c->'images', '[]'))), 0)
               FROM jsonb_array_elements(tg_tasks.result::jsonb->'clusters') c))::text
WHERE kind = 'tcss.refresh' AND state = 'succeeded' AND result IS NOT NULL
  AND jsonb_typeof(result::jsonb->'clusters') = 'array';
