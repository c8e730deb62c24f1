-- The account's inventory lives in tables that a refresh's success rewrites in its completing
-- transaction (the lists filter, order and page it in SQL): each configured cluster's facts,
-- then the hosts, containers and images, each row with the refresh (`task_id`, the account's
-- numeric TaskId) that wrote it. A cluster's row also counts its containers (all, running,
-- paused, stopped) and images, recounted by each write, so the host list and the summary read
-- a few rows whatever the inventory's size. The refresh task's output keeps only how much it wrote.
-- Asset rows of cluster `''` are the host taskgate runs on, which has no cluster row.
CREATE TABLE tcss_clusters (
    account          TEXT     NOT NULL,
    cluster_id       TEXT     NOT NULL,
    name             TEXT     NOT NULL,
    reachable        BOOLEAN  NOT NULL,
    error            TEXT,
    runtime_version  TEXT     NOT NULL,
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
    account         TEXT    NOT NULL,
    cluster_id      TEXT    NOT NULL,
    host_id         TEXT    NOT NULL,
    ord             BIGINT  NOT NULL,
    host_name       TEXT    NOT NULL,
    host_ip         TEXT    NOT NULL,
    cores_cnt       BIGINT  NOT NULL,
    os_name         TEXT    NOT NULL,
    kernel_version  TEXT    NOT NULL,
    architecture    TEXT    NOT NULL,
    memory_bytes    BIGINT  NOT NULL,
    task_id         BIGINT  NOT NULL,
    PRIMARY KEY (account, cluster_id, host_id)
);
CREATE UNIQUE INDEX tcss_hosts_order ON tcss_hosts (account, cluster_id, ord);

-- `status` is the upper-case state tcss shows (`RUNNING`, …, '' when unknown), `docker_status`
-- Docker's own status text; `host_name` the cluster's first node, where the list places it.
CREATE TABLE tcss_containers (
    account         TEXT    NOT NULL,
    cluster_id      TEXT    NOT NULL,
    container_id    TEXT    NOT NULL,
    ord             BIGINT  NOT NULL,
    container_name  TEXT    NOT NULL,
    image_name      TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    docker_status   TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    host_name       TEXT    NOT NULL,
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
    account     TEXT    NOT NULL,
    cluster_id  TEXT    NOT NULL,
    image_id    TEXT    NOT NULL,
    ord         BIGINT  NOT NULL,
    image_name  TEXT    NOT NULL,
    repo_tags   TEXT    NOT NULL,
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
SELECT r.account, r.task_id, t.result FROM tcss_refresh_tasks r JOIN tg_tasks t ON t.id = r.engine_task_id
WHERE t.state = 'succeeded' AND json_valid(t.result) AND r.task_id = (
    SELECT MAX(r2.task_id) FROM tcss_refresh_tasks r2 JOIN tg_tasks t2 ON t2.id = r2.engine_task_id
    WHERE r2.account = r.account AND t2.state = 'succeeded');

INSERT OR IGNORE INTO tcss_clusters (account, cluster_id, name, reachable, error, runtime_version, task_id)
SELECT l.account, COALESCE(json_extract(c.value, '$.cluster_id'), ''), COALESCE(json_extract(c.value, '$.name'), ''),
       COALESCE(json_extract(c.value, '$.reachable'), 0), json_extract(c.value, '$.error'),
       COALESCE(json_extract(c.value, '$.runtime_version'), ''), l.task_id
FROM tcss_latest l, json_each(l.result, '$.clusters') c;

INSERT OR IGNORE INTO tcss_hosts (account, cluster_id, host_id, ord, host_name, host_ip, cores_cnt, os_name, kernel_version,
                        architecture, memory_bytes, task_id)
SELECT l.account, '', 'host-' || COALESCE(json_extract(l.result, '$.host.hostname'), ''), 0,
       COALESCE(json_extract(l.result, '$.host.hostname'), ''), COALESCE(json_extract(l.result, '$.host.ips[0]'), ''),
       COALESCE(json_extract(l.result, '$.host.cpu_count'), 0),
       trim(COALESCE(json_extract(l.result, '$.host.os_name'), '') || ' '
            || COALESCE(json_extract(l.result, '$.host.os_version'), '')),
       COALESCE(json_extract(l.result, '$.host.kernel_version'), ''), '',
       COALESCE(json_extract(l.result, '$.host.memory_bytes'), 0), l.task_id
FROM tcss_latest l
UNION ALL
SELECT l.account, COALESCE(json_extract(c.value, '$.cluster_id'), ''),
       COALESCE(json_extract(c.value, '$.cluster_id'), '') || '-' || COALESCE(json_extract(n.value, '$.name'), ''), n.key,
       COALESCE(json_extract(n.value, '$.name'), ''), '', COALESCE(json_extract(n.value, '$.cpu_count'), 0),
       COALESCE(json_extract(n.value, '$.os'), ''), COALESCE(json_extract(n.value, '$.kernel_version'), ''),
       COALESCE(json_extract(n.value, '$.architecture'), ''), COALESCE(json_extract(n.value, '$.memory_bytes'), 0),
       l.task_id
FROM tcss_latest l, json_each(l.result, '$.clusters') c, json_each(c.value, '$.nodes') n;

INSERT OR IGNORE INTO tcss_containers (account, cluster_id, container_id, ord, container_name, image_name, status, docker_status,
                             created_at, host_name, task_id)
SELECT l.account, COALESCE(json_extract(c.value, '$.cluster_id'), ''), COALESCE(json_extract(k.value, '$.id'), ''), k.key,
       COALESCE(json_extract(k.value, '$.name'), ''), COALESCE(json_extract(k.value, '$.image'), ''),
       CASE WHEN json_extract(k.value, '$.state') IN ('created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead')
            THEN upper(json_extract(k.value, '$.state')) ELSE '' END,
       COALESCE(json_extract(k.value, '$.status'), ''), COALESCE(json_extract(k.value, '$.created_at'), 0),
       COALESCE(json_extract(c.value, '$.nodes[0].name'), ''), l.task_id
FROM tcss_latest l, json_each(l.result, '$.clusters') c, json_each(c.value, '$.containers') k;

INSERT OR IGNORE INTO tcss_images (account, cluster_id, image_id, ord, image_name, repo_tags, size_bytes, created_at, containers,
                         task_id)
SELECT l.account, COALESCE(json_extract(c.value, '$.cluster_id'), ''), COALESCE(json_extract(i.value, '$.id'), ''), i.key,
       COALESCE(json_extract(i.value, '$.repo_tags[0]'), '<none>'), COALESCE(json_extract(i.value, '$.repo_tags'), '[]'),
       COALESCE(json_extract(i.value, '$.size_bytes'), 0), COALESCE(json_extract(i.value, '$.created_at'), 0),
       COALESCE(json_extract(i.value, '$.containers'), -1), l.task_id
FROM tcss_latest l, json_each(l.result, '$.clusters') c, json_each(c.value, '$.images') i;

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
UPDATE tg_tasks SET result = json_object(
    'clusters', json_array_length(result, '$.clusters'),
    'containers', (SELECT COALESCE(SUM(json_array_length(c.value, '$.containers')), 0)
                   FROM json_each(tg_tasks.result, '$.clusters') c),
    'images', (SELECT COALESCE(SUM(json_array_length(c.value, '$.images')), 0)
               FROM json_each(tg_tasks.result, '$.clusters') c))
WHERE kind = 'tcss.refresh' AND state = 'succeeded' AND json_valid(result) AND json_type(result, '$.clusters') = 'array';
