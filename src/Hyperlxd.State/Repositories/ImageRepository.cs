using System.Text.Json;
using Hyperlxd.Api;
using Hyperlxd.Core;
using Npgsql;
using NpgsqlTypes;

namespace Hyperlxd.State.Repositories;

/// <summary>Image rows and their aliases (tables <c>images</c>, <c>image_aliases</c>).</summary>
public sealed class ImageRepository(Database db)
{
    private const string Columns =
        "fingerprint, filename, size, public, auto_update, architecture, type, properties::text, profiles::text, " +
        "created_at, uploaded_at, expires_at, last_used_at, cached, update_source::text";

    public Task<List<Image>> ListAsync(CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            var images = new List<Image>();
            await using (var cmd = conn.Command($"SELECT {Columns} FROM images ORDER BY fingerprint", null))
            await using (var r = await cmd.ExecuteReaderAsync(token))
            {
                while (await r.ReadAsync(token))
                {
                    images.Add(Read(r));
                }
            }
            var aliases = await AliasesAsync(conn, null, token);
            foreach (var i in images)
            {
                i.Aliases = aliases.Where(a => a.Target == i.Fingerprint).Select(a => new ImageAlias { Name = a.Name!, Description = a.Description! }).ToList();
            }
            return images;
        }, ct);

    /// <summary>The fingerprints that start with <paramref name="prefix"/> (LXD accepts any unique prefix).</summary>
    public Task<List<string>> MatchAsync(string prefix, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            var list = new List<string>();
            await using var cmd = conn.Command("SELECT fingerprint FROM images WHERE starts_with(fingerprint, $1) ORDER BY fingerprint LIMIT 2", null, prefix);
            await using var r = await cmd.ExecuteReaderAsync(token);
            while (await r.ReadAsync(token))
            {
                list.Add(r.GetString(0));
            }
            return list;
        }, ct);

    public Task<Image> GetAsync(string fingerprint, CancellationToken ct) =>
        db.RunAsync((conn, token) => GetAsync(conn, null, fingerprint, false, token), ct);

    /// <summary>Inserts the image and the aliases given with it in one transaction.</summary>
    public Task CreateAsync(Image i, IReadOnlyList<ImageAliasesEntry> aliases, CancellationToken ct) =>
        db.TransactionAsync(async (conn, tx, token) =>
        {
            await using (var cmd = conn.Command(
                "INSERT INTO images (fingerprint, filename, size, public, auto_update, architecture, type, created_at, uploaded_at, expires_at, cached, properties, profiles, update_source) " +
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)", tx,
                i.Fingerprint, i.Filename, i.Size, i.Public, i.AutoUpdate, i.Architecture, i.Type, i.CreatedAt, i.UploadedAt,
                i.ExpiresAt == default ? DBNull.Value : i.ExpiresAt, i.Cached))
            {
                cmd.Parameters.Add(Json.Param(i.Properties));
                cmd.Parameters.Add(Json.Param(i.Profiles));
                cmd.Parameters.Add(SourceParam(i.UpdateSource));
                try
                {
                    await cmd.ExecuteNonQueryAsync(token);
                }
                catch (PostgresException e) when (e.IsUniqueViolation())
                {
                    throw new ConflictException("Image with same fingerprint already exists");
                }
            }
            foreach (var a in aliases)
            {
                await InsertAliasAsync(conn, tx, a, token);
            }
            return 0;
        }, ct);

    public Task<Image> UpdateAsync(string fingerprint, Action<Image> mutate, CancellationToken ct) =>
        db.TransactionAsync(async (conn, tx, token) =>
        {
            var i = await GetAsync(conn, tx, fingerprint, true, token);
            mutate(i);
            await using var cmd = conn.Command(
                "UPDATE images SET public = $2, auto_update = $3, expires_at = $4, last_used_at = $5, cached = $6, properties = $7, profiles = $8 WHERE fingerprint = $1",
                tx, fingerprint, i.Public, i.AutoUpdate, i.ExpiresAt == default ? DBNull.Value : i.ExpiresAt,
                i.LastUsedAt == default ? DBNull.Value : i.LastUsedAt, i.Cached);
            cmd.Parameters.Add(Json.Param(i.Properties));
            cmd.Parameters.Add(Json.Param(i.Profiles));
            await cmd.ExecuteNonQueryAsync(token);
            return i;
        }, ct);

    public Task DeleteAsync(string fingerprint, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("DELETE FROM images WHERE fingerprint = $1", null, fingerprint);
            return await cmd.ExecuteNonQueryAsync(token) == 1 ? 1 : throw new NotFoundException("Image not found");
        }, ct);

    // ---- aliases -------------------------------------------------------------------------

    public Task<List<ImageAliasesEntry>> ListAliasesAsync(CancellationToken ct) =>
        db.RunAsync((conn, token) => AliasesAsync(conn, null, token), ct);

    public Task<ImageAliasesEntry> GetAliasAsync(string name, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("SELECT name, fingerprint, description, type FROM image_aliases WHERE name = $1", null, name);
            await using var r = await cmd.ExecuteReaderAsync(token);
            return await r.ReadAsync(token) ? ReadAlias(r) : throw new NotFoundException("Image alias not found");
        }, ct);

    public Task CreateAliasAsync(ImageAliasesEntry a, CancellationToken ct) =>
        db.RunAsync(async (conn, token) => { await InsertAliasAsync(conn, null, a, token); return 0; }, ct);

    public Task UpdateAliasAsync(string name, string target, string type, string description, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("UPDATE image_aliases SET fingerprint = $2, type = $3, description = $4 WHERE name = $1", null, name, target, type, description);
            return await cmd.ExecuteNonQueryAsync(token) == 1 ? 1 : throw new NotFoundException("Image alias not found");
        }, ct);

    public Task RenameAliasAsync(string name, string newName, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("UPDATE image_aliases SET name = $2 WHERE name = $1", null, name, newName);
            try
            {
                return await cmd.ExecuteNonQueryAsync(token) == 1 ? 1 : throw new NotFoundException("Image alias not found");
            }
            catch (PostgresException e) when (e.IsUniqueViolation())
            {
                throw new ConflictException($"Alias \"{newName}\" already exists");
            }
        }, ct);

    public Task DeleteAliasAsync(string name, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("DELETE FROM image_aliases WHERE name = $1", null, name);
            return await cmd.ExecuteNonQueryAsync(token) == 1 ? 1 : throw new NotFoundException("Image alias not found");
        }, ct);

    private static async Task InsertAliasAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, ImageAliasesEntry a, CancellationToken ct)
    {
        await using var cmd = conn.Command("INSERT INTO image_aliases (name, fingerprint, description, type) VALUES ($1, $2, $3, $4)", tx,
            a.Name!, a.Target!, a.Description ?? "", a.Type ?? "container");
        try
        {
            await cmd.ExecuteNonQueryAsync(ct);
        }
        catch (PostgresException e) when (e.IsUniqueViolation())
        {
            throw new ConflictException($"Alias \"{a.Name}\" already exists");
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ForeignKeyViolation)
        {
            throw new NotFoundException("Image not found");
        }
    }

    private static async Task<List<ImageAliasesEntry>> AliasesAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, CancellationToken ct)
    {
        var list = new List<ImageAliasesEntry>();
        await using var cmd = conn.Command("SELECT name, fingerprint, description, type FROM image_aliases ORDER BY name", tx);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            list.Add(ReadAlias(r));
        }
        return list;
    }

    private static async Task<Image> GetAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string fingerprint, bool forUpdate, CancellationToken ct)
    {
        Image i;
        await using (var cmd = conn.Command($"SELECT {Columns} FROM images WHERE fingerprint = $1{(forUpdate ? " FOR UPDATE" : "")}", tx, fingerprint))
        await using (var r = await cmd.ExecuteReaderAsync(ct))
        {
            i = await r.ReadAsync(ct) ? Read(r) : throw new NotFoundException("Image not found");
        }
        i.Aliases = (await AliasesAsync(conn, tx, ct)).Where(a => a.Target == fingerprint)
            .Select(a => new ImageAlias { Name = a.Name!, Description = a.Description! }).ToList();
        return i;
    }

    private static ImageAliasesEntry ReadAlias(NpgsqlDataReader r) => new()
    {
        Name = r.GetString(0),
        Target = r.GetString(1),
        Description = r.GetString(2),
        Type = r.GetString(3),
    };

    private static Image Read(NpgsqlDataReader r) => new()
    {
        Fingerprint = r.GetString(0),
        Filename = r.GetString(1),
        Size = r.GetInt64(2),
        Public = r.GetBoolean(3),
        AutoUpdate = r.GetBoolean(4),
        Architecture = r.GetString(5),
        Type = r.GetString(6),
        Properties = Json.Map(r.GetString(7)),
        Profiles = Json.List(r.GetString(8)),
        CreatedAt = r.GetFieldValue<DateTimeOffset>(9),
        UploadedAt = r.GetFieldValue<DateTimeOffset>(10),
        ExpiresAt = r.IsDBNull(11) ? default : r.GetFieldValue<DateTimeOffset>(11),
        LastUsedAt = r.IsDBNull(12) ? default : r.GetFieldValue<DateTimeOffset>(12),
        Cached = r.GetBoolean(13),
        UpdateSource = r.IsDBNull(14) ? null : JsonSerializer.Deserialize(r.GetString(14), ApiJsonContext.Default.ImageSource),
    };

    private static NpgsqlParameter SourceParam(ImageSource? s) => new()
    {
        NpgsqlDbType = NpgsqlDbType.Jsonb,
        Value = s is null ? DBNull.Value : JsonSerializer.Serialize(s, ApiJsonContext.Default.ImageSource),
    };
}
