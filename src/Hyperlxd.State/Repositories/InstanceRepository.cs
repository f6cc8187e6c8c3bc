using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Instances;
using Npgsql;
using NpgsqlTypes;

namespace Hyperlxd.State.Repositories;

/// <summary>An instance or snapshot row: the local (unexpanded) config and devices, and its profiles in order.</summary>
public sealed class InstanceRecord
{
    public string Name { get; set; } = "";
    public InstanceType Type { get; set; } = InstanceType.Container;
    public string Architecture { get; set; } = "";
    public string Description { get; set; } = "";
    public Dictionary<string, string> Config { get; set; } = new();
    public Dictionary<string, Dictionary<string, string>> Devices { get; set; } = new();
    public List<string> Profiles { get; set; } = new();
    public bool Ephemeral { get; set; }
    public bool Stateful { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? LastUsedAt { get; set; }
    public DateTimeOffset? ExpiresAt { get; set; }
}

public sealed class InstanceRepository(Database db)
{
    private const string Columns = "name, type, architecture, description, config::text, devices::text, profiles::text, ephemeral, stateful, created_at, last_used_at";
    private const string SnapshotColumns = "name, (SELECT i.type FROM instances i WHERE i.name = instance_snapshots.instance), architecture, '', config::text, devices::text, profiles::text, ephemeral, stateful, created_at, NULL::timestamptz, expires_at";

    public Task<List<InstanceRecord>> ListAsync(CancellationToken ct) =>
        db.RunAsync((conn, token) => ReadAllAsync(conn.Command($"SELECT {Columns} FROM instances ORDER BY name", null), token), ct);

    public Task<InstanceRecord> GetAsync(string name, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
            (await ReadAllAsync(conn.Command($"SELECT {Columns} FROM instances WHERE name = $1", null, name), token)).FirstOrDefault()
            ?? throw new NotFoundException("Instance not found"), ct);

    /// <summary>
    /// The instance and the profiles it lists, in one round trip (two statements in a batch): what
    /// every request on one instance reads first.
    /// </summary>
    public Task<(InstanceRecord Record, List<Profile> Profiles)> GetWithProfilesAsync(string name, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var batch = new NpgsqlBatch(conn)
            {
                BatchCommands =
                {
                    Statement($"SELECT {Columns} FROM instances WHERE name = $1", name),
                    Statement($"SELECT {ProfileRepository.Columns} FROM profiles WHERE name IN " +
                        "(SELECT jsonb_array_elements_text(profiles) FROM instances WHERE name = $1)", name),
                },
            };
            await using var r = await batch.ExecuteReaderAsync(token);
            var record = await r.ReadAsync(token) ? ReadRecord(r) : throw new NotFoundException("Instance not found");
            await r.NextResultAsync(token);
            var profiles = new List<Profile>();
            while (await r.ReadAsync(token))
            {
                profiles.Add(ProfileRepository.Read(r));
            }
            return (record, profiles);
        }, ct);

    private static NpgsqlBatchCommand Statement(string sql, object arg) => new(sql) { Parameters = { new NpgsqlParameter { Value = arg } } };

    /// <summary>Names of instances that list <paramref name="profile"/>.</summary>
    public Task<List<string>> UsingProfileAsync(string profile, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("SELECT name FROM instances WHERE profiles ? $1 ORDER BY name", null, profile);
            var names = new List<string>();
            await using var r = await cmd.ExecuteReaderAsync(token);
            while (await r.ReadAsync(token))
            {
                names.Add(r.GetString(0));
            }
            return names;
        }, ct);

    /// <summary>Inserts the row marked as being created until <see cref="CompleteCreateAsync"/>.</summary>
    public Task CreateAsync(InstanceRecord i, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command(
                "INSERT INTO instances (name, type, architecture, description, config, devices, profiles, ephemeral, stateful, creating) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, true)",
                null, i.Name, i.Type.ToApi(), i.Architecture, i.Description);
            cmd.Parameters.Add(Json.Param(i.Config));
            cmd.Parameters.Add(Json.Param(i.Devices));
            cmd.Parameters.Add(Json.Param(i.Profiles));
            cmd.Parameters.Add(new NpgsqlParameter { Value = i.Ephemeral });
            cmd.Parameters.Add(new NpgsqlParameter { Value = i.Stateful });
            try
            {
                return await cmd.ExecuteNonQueryAsync(token);
            }
            catch (PostgresException e) when (e.IsUniqueViolation())
            {
                throw new ConflictException($"Instance \"{i.Name}\" already exists");
            }
        }, ct);

    /// <summary>Ends a create: merges the driver's volatile keys into the config and clears the mark, in one statement.</summary>
    public Task CompleteCreateAsync(string name, Dictionary<string, string> volatileKeys, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("UPDATE instances SET config = config || $2, creating = false WHERE name = $1", null, name);
            cmd.Parameters.Add(Json.Param(volatileKeys));
            return await cmd.ExecuteNonQueryAsync(token) == 1 ? 1 : throw new NotFoundException("Instance not found");
        }, ct);

    /// <summary>Instances whose create never finished (the daemon died midway).</summary>
    public Task<List<InstanceRecord>> ListCreatingAsync(CancellationToken ct) =>
        db.RunAsync((conn, token) => ReadAllAsync(conn.Command($"SELECT {Columns} FROM instances WHERE creating ORDER BY name", null), token), ct);

    /// <summary>Reads the row locked, lets <paramref name="mutate"/> change it (or throw), writes it back.</summary>
    public Task<InstanceRecord> UpdateAsync(string name, Func<InstanceRecord, Task> mutate, CancellationToken ct) =>
        db.TransactionAsync(async (conn, tx, token) =>
        {
            var i = (await ReadAllAsync(conn.Command($"SELECT {Columns} FROM instances WHERE name = $1 FOR UPDATE", tx, name), token)).FirstOrDefault()
                ?? throw new NotFoundException("Instance not found");
            await mutate(i);
            await using var cmd = conn.Command(
                "UPDATE instances SET architecture = $2, description = $3, config = $4, devices = $5, profiles = $6, ephemeral = $7, stateful = $8, last_used_at = $9 WHERE name = $1",
                tx, name, i.Architecture, i.Description);
            cmd.Parameters.Add(Json.Param(i.Config));
            cmd.Parameters.Add(Json.Param(i.Devices));
            cmd.Parameters.Add(Json.Param(i.Profiles));
            cmd.Parameters.Add(new NpgsqlParameter { Value = i.Ephemeral });
            cmd.Parameters.Add(new NpgsqlParameter { Value = i.Stateful });
            cmd.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.TimestampTz, Value = (object?)i.LastUsedAt ?? DBNull.Value });
            await cmd.ExecuteNonQueryAsync(token);
            return i;
        }, ct);

    public Task RenameAsync(string name, string newName, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("UPDATE instances SET name = $2 WHERE name = $1", null, name, newName);
            try
            {
                return await cmd.ExecuteNonQueryAsync(token) == 1 ? 1 : throw new NotFoundException("Instance not found");
            }
            catch (PostgresException e) when (e.IsUniqueViolation())
            {
                throw new ConflictException($"Instance \"{newName}\" already exists");
            }
        }, ct);

    public Task DeleteAsync(string name, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("DELETE FROM instances WHERE name = $1", null, name);
            return await cmd.ExecuteNonQueryAsync(token);
        }, ct);

    /// <summary>Renames a profile inside every instance's profile list (the profile rename itself is the caller's).</summary>
    public static NpgsqlCommand RenameProfileCommand(NpgsqlConnection conn, NpgsqlTransaction tx, string oldName, string newName) =>
        conn.Command(
            "UPDATE instances SET profiles = (SELECT jsonb_agg(CASE WHEN p = to_jsonb($1::text) THEN to_jsonb($2::text) ELSE p END ORDER BY o) FROM jsonb_array_elements(profiles) WITH ORDINALITY AS e(p, o)) WHERE profiles ? $1",
            tx, oldName, newName);

    // ---- Snapshots -------------------------------------------------------------------------------

    public Task<List<InstanceRecord>> ListSnapshotsAsync(string instance, CancellationToken ct) =>
        db.RunAsync((conn, token) => ReadAllAsync(conn.Command($"SELECT {SnapshotColumns} FROM instance_snapshots WHERE instance = $1 ORDER BY created_at, name", null, instance), token), ct);

    public async Task<InstanceRecord> GetSnapshotAsync(string instance, string name, CancellationToken ct) =>
        (await db.RunAsync((conn, token) => ReadAllAsync(conn.Command($"SELECT {SnapshotColumns} FROM instance_snapshots WHERE instance = $1 AND name = $2", null, instance, name), token), ct))
        .FirstOrDefault() ?? throw new NotFoundException("Snapshot not found");

    public Task CreateSnapshotAsync(string instance, InstanceRecord s, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command(
                "INSERT INTO instance_snapshots (instance, name, architecture, config, devices, profiles, ephemeral, stateful, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, COALESCE($10, now()))",
                null, instance, s.Name, s.Architecture);
            cmd.Parameters.Add(Json.Param(s.Config));
            cmd.Parameters.Add(Json.Param(s.Devices));
            cmd.Parameters.Add(Json.Param(s.Profiles));
            cmd.Parameters.Add(new NpgsqlParameter { Value = s.Ephemeral });
            cmd.Parameters.Add(new NpgsqlParameter { Value = s.Stateful });
            cmd.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.TimestampTz, Value = (object?)s.ExpiresAt ?? DBNull.Value });
            // A copied snapshot keeps its creation time (unset: now).
            cmd.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.TimestampTz, Value = s.CreatedAt == default ? DBNull.Value : (object)s.CreatedAt });
            try
            {
                return await cmd.ExecuteNonQueryAsync(token);
            }
            catch (PostgresException e) when (e.IsUniqueViolation())
            {
                throw new ConflictException($"Snapshot \"{s.Name}\" already exists");
            }
        }, ct);

    public Task RenameSnapshotAsync(string instance, string name, string newName, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("UPDATE instance_snapshots SET name = $3 WHERE instance = $1 AND name = $2", null, instance, name, newName);
            try
            {
                return await cmd.ExecuteNonQueryAsync(token) == 1 ? 1 : throw new NotFoundException("Snapshot not found");
            }
            catch (PostgresException e) when (e.IsUniqueViolation())
            {
                throw new ConflictException($"Snapshot \"{newName}\" already exists");
            }
        }, ct);

    public Task DeleteSnapshotAsync(string instance, string name, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("DELETE FROM instance_snapshots WHERE instance = $1 AND name = $2", null, instance, name);
            return await cmd.ExecuteNonQueryAsync(token);
        }, ct);

    /// <summary>A snapshot's expiry (null: none); the only field of a snapshot LXD lets a client change.</summary>
    public Task UpdateSnapshotExpiryAsync(string instance, string name, DateTimeOffset? expiresAt, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("UPDATE instance_snapshots SET expires_at = $3 WHERE instance = $1 AND name = $2", null, instance, name);
            cmd.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.TimestampTz, Value = (object?)expiresAt ?? DBNull.Value });
            return await cmd.ExecuteNonQueryAsync(token) == 1 ? 1 : throw new NotFoundException("Snapshot not found");
        }, ct);

    /// <summary>Snapshots (instance, name) whose expiry is at or before <paramref name="now"/>, oldest expiry first.</summary>
    public Task<List<(string Instance, string Name)>> ListExpiredSnapshotsAsync(DateTimeOffset now, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("SELECT instance, name FROM instance_snapshots WHERE expires_at IS NOT NULL AND expires_at <= $1 ORDER BY expires_at, instance, name", null);
            cmd.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.TimestampTz, Value = now.UtcDateTime });
            var list = new List<(string, string)>();
            await using var r = await cmd.ExecuteReaderAsync(token);
            while (await r.ReadAsync(token))
            {
                list.Add((r.GetString(0), r.GetString(1)));
            }
            return list;
        }, ct);

    private static async Task<List<InstanceRecord>> ReadAllAsync(NpgsqlCommand cmd, CancellationToken ct)
    {
        await using (cmd)
        {
            var list = new List<InstanceRecord>();
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                list.Add(ReadRecord(r));
            }
            return list;
        }
    }

    private static InstanceRecord ReadRecord(NpgsqlDataReader r) => new()
    {
        Name = r.GetString(0),
        Type = InstanceTypes.Parse(r.GetString(1)), // a snapshot has its instance's type
        Architecture = r.GetString(2),
        Description = r.GetString(3),
        Config = Json.Map(r.GetString(4)),
        Devices = Json.Devices(r.GetString(5)),
        Profiles = Json.List(r.GetString(6)),
        Ephemeral = r.GetBoolean(7),
        Stateful = r.GetBoolean(8),
        CreatedAt = r.GetFieldValue<DateTimeOffset>(9),
        LastUsedAt = r.IsDBNull(10) ? null : r.GetFieldValue<DateTimeOffset>(10),
        ExpiresAt = r.FieldCount > 11 && !r.IsDBNull(11) ? r.GetFieldValue<DateTimeOffset>(11) : null,
    };
}
