using Hyperlxd.Api;
using Hyperlxd.Core;
using Npgsql;

namespace Hyperlxd.State.Repositories;

/// <summary>Projects and which projects see which image (<c>image_projects</c>).</summary>
public sealed class ProjectRepository(Database db)
{
    private const string Columns = "name, description, config::text";

    public Task<List<Project>> ListAsync(CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            var list = new List<Project>();
            await using var cmd = conn.Command($"SELECT {Columns} FROM projects ORDER BY name", null);
            await using var r = await cmd.ExecuteReaderAsync(token);
            while (await r.ReadAsync(token))
            {
                list.Add(Read(r));
            }
            return list;
        }, ct);

    public Task<Project?> FindAsync(string name, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command($"SELECT {Columns} FROM projects WHERE name = $1", null, name);
            await using var r = await cmd.ExecuteReaderAsync(token);
            return await r.ReadAsync(token) ? Read(r) : null;
        }, ct);

    /// <summary>Creates the project and, in the same transaction, its own default profile when it has one.</summary>
    public Task CreateAsync(Project p, Profile? defaultProfile, CancellationToken ct) =>
        db.TransactionAsync(async (conn, tx, token) =>
        {
            await using var cmd = conn.Command("INSERT INTO projects (name, description, config) VALUES ($1, $2, $3)", tx, p.Name, p.Description);
            cmd.Parameters.Add(Json.Param(p.Config));
            try
            {
                await cmd.ExecuteNonQueryAsync(token);
            }
            catch (PostgresException e) when (e.IsUniqueViolation())
            {
                throw new ConflictException($"Project \"{p.Name}\" already exists");
            }
            if (defaultProfile is not null)
            {
                await InsertProfileAsync(conn, tx, defaultProfile, token);
            }
        }, ct);

    /// <summary>Writes description and config; adds or drops the project's default profile in the same transaction.</summary>
    public Task UpdateAsync(string name, string description, Dictionary<string, string> config, Profile? addProfile, string? dropProfile, CancellationToken ct) =>
        db.TransactionAsync(async (conn, tx, token) =>
        {
            await using var cmd = conn.Command("UPDATE projects SET description = $2, config = $3 WHERE name = $1", tx, name, description);
            cmd.Parameters.Add(Json.Param(config));
            if (await cmd.ExecuteNonQueryAsync(token) != 1)
            {
                throw new NotFoundException("Project not found");
            }
            if (addProfile is not null)
            {
                await InsertProfileAsync(conn, tx, addProfile, token);
            }
            if (dropProfile is not null)
            {
                await using var drop = conn.Command("DELETE FROM profiles WHERE name = $1", tx, dropProfile);
                await drop.ExecuteNonQueryAsync(token);
            }
        }, ct);

    /// <summary>Renames an (empty) project, moving the keys of its remaining profiles with it.</summary>
    public Task RenameAsync(string name, string newName, IReadOnlyList<(string From, string To)> profiles, CancellationToken ct) =>
        db.TransactionAsync(async (conn, tx, token) =>
        {
            await using var cmd = conn.Command("UPDATE projects SET name = $2 WHERE name = $1", tx, name, newName);
            try
            {
                if (await cmd.ExecuteNonQueryAsync(token) != 1)
                {
                    throw new NotFoundException("Project not found");
                }
            }
            catch (PostgresException e) when (e.IsUniqueViolation())
            {
                throw new ConflictException($"A project named \"{newName}\" already exists");
            }
            foreach (var (from, to) in profiles)
            {
                await using var p = conn.Command("UPDATE profiles SET name = $2 WHERE name = $1", tx, from, to);
                await p.ExecuteNonQueryAsync(token);
            }
        }, ct);

    public Task DeleteAsync(string name, IReadOnlyList<string> profiles, CancellationToken ct) =>
        db.TransactionAsync(async (conn, tx, token) =>
        {
            foreach (var profile in profiles)
            {
                await using var p = conn.Command("DELETE FROM profiles WHERE name = $1", tx, profile);
                await p.ExecuteNonQueryAsync(token);
            }
            await using var cmd = conn.Command("DELETE FROM projects WHERE name = $1", tx, name);
            if (await cmd.ExecuteNonQueryAsync(token) != 1)
            {
                throw new NotFoundException("Project not found");
            }
        }, ct);

    /// <summary>fingerprint → the projects that list it (images absent here belong to the default project only).</summary>
    public Task<Dictionary<string, List<string>>> ImageProjectsAsync(CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            var map = new Dictionary<string, List<string>>();
            await using var cmd = conn.Command("SELECT fingerprint, project FROM image_projects ORDER BY project", null);
            await using var r = await cmd.ExecuteReaderAsync(token);
            while (await r.ReadAsync(token))
            {
                var fp = r.GetString(0);
                if (!map.TryGetValue(fp, out var list))
                {
                    map[fp] = list = new();
                }
                list.Add(r.GetString(1));
            }
            return map;
        }, ct);

    /// <summary>Adds the image to the projects (idempotent).</summary>
    public Task AddImageAsync(string fingerprint, IEnumerable<string> projects, CancellationToken ct) =>
        db.TransactionAsync(async (conn, tx, token) =>
        {
            foreach (var project in projects)
            {
                await using var cmd = conn.Command("INSERT INTO image_projects (fingerprint, project) VALUES ($1, $2) ON CONFLICT DO NOTHING", tx, fingerprint, project);
                await cmd.ExecuteNonQueryAsync(token);
            }
        }, ct);

    /// <summary>Removes the image from one project; the projects that still list it.</summary>
    public Task<List<string>> RemoveImageAsync(string fingerprint, string project, CancellationToken ct) =>
        db.TransactionAsync(async (conn, tx, token) =>
        {
            await using (var cmd = conn.Command("DELETE FROM image_projects WHERE fingerprint = $1 AND project = $2", tx, fingerprint, project))
            {
                await cmd.ExecuteNonQueryAsync(token);
            }
            var left = new List<string>();
            await using var q = conn.Command("SELECT project FROM image_projects WHERE fingerprint = $1", tx, fingerprint);
            await using var r = await q.ExecuteReaderAsync(token);
            while (await r.ReadAsync(token))
            {
                left.Add(r.GetString(0));
            }
            return left;
        }, ct);

    private static async Task InsertProfileAsync(NpgsqlConnection conn, NpgsqlTransaction tx, Profile p, CancellationToken ct)
    {
        await using var cmd = conn.Command("INSERT INTO profiles (name, description, config, devices) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING", tx, p.Name, p.Description);
        cmd.Parameters.Add(Json.Param(p.Config));
        cmd.Parameters.Add(Json.Param(p.Devices));
        await cmd.ExecuteNonQueryAsync(ct);
    }

    private static Project Read(NpgsqlDataReader r) => new()
    {
        Name = r.GetString(0),
        Description = r.GetString(1),
        Config = Json.Map(r.GetString(2)),
    };
}
