using Hyperlxd.Api;
using Hyperlxd.Core;
using Npgsql;

namespace Hyperlxd.State.Repositories;

/// <summary>Trusted client certificates.</summary>
public sealed class CertificateRepository(Database db)
{
    private const string Columns = "fingerprint, name, type, restricted, projects::text, certificate";

    public Task<List<Certificate>> ListAsync(CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            var list = new List<Certificate>();
            await using var cmd = conn.Command($"SELECT {Columns} FROM certificates ORDER BY fingerprint", null);
            await using var r = await cmd.ExecuteReaderAsync(token);
            while (await r.ReadAsync(token))
            {
                list.Add(Read(r));
            }
            return list;
        }, ct);

    /// <summary>Finds a certificate by its fingerprint or an unambiguous prefix of it, as LXD does.</summary>
    public Task<Certificate> GetAsync(string fingerprintPrefix, CancellationToken ct) =>
        db.RunAsync((conn, token) => GetAsync(conn, null, fingerprintPrefix, false, token), ct);

    public Task AddAsync(Certificate c, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command(
                "INSERT INTO certificates (fingerprint, name, type, restricted, projects, certificate) VALUES ($1, $2, $3, $4, $5, $6)",
                null, c.Fingerprint, c.Name, c.Type, c.Restricted);
            cmd.Parameters.Add(Json.Param(c.Projects));
            cmd.Parameters.Add(new NpgsqlParameter { Value = c.Pem });
            try
            {
                return await cmd.ExecuteNonQueryAsync(token);
            }
            catch (PostgresException e) when (e.IsUniqueViolation())
            {
                throw new ConflictException("Certificate already in trust store");
            }
        }, ct);

    public Task<Certificate> UpdateAsync(string fingerprintPrefix, Action<Certificate> mutate, CancellationToken ct) =>
        db.TransactionAsync(async (conn, tx, token) =>
        {
            var c = await GetAsync(conn, tx, fingerprintPrefix, true, token);
            mutate(c);
            await using var cmd = conn.Command(
                "UPDATE certificates SET name = $2, type = $3, restricted = $4, projects = $5 WHERE fingerprint = $1",
                tx, c.Fingerprint, c.Name, c.Type, c.Restricted);
            cmd.Parameters.Add(Json.Param(c.Projects));
            await cmd.ExecuteNonQueryAsync(token);
            return c;
        }, ct);

    public Task<Certificate> DeleteAsync(string fingerprintPrefix, CancellationToken ct) =>
        db.TransactionAsync(async (conn, tx, token) =>
        {
            var c = await GetAsync(conn, tx, fingerprintPrefix, true, token);
            await using var cmd = conn.Command("DELETE FROM certificates WHERE fingerprint = $1", tx, c.Fingerprint);
            await cmd.ExecuteNonQueryAsync(token);
            return c;
        }, ct);

    private static async Task<Certificate> GetAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string prefix, bool forUpdate, CancellationToken ct)
    {
        if (prefix.Length == 0 || !prefix.All(Uri.IsHexDigit))
        {
            throw new NotFoundException("Certificate not found");
        }
        await using var cmd = conn.Command(
            $"SELECT {Columns} FROM certificates WHERE fingerprint LIKE $1 || '%' LIMIT 2{(forUpdate ? " FOR UPDATE" : "")}", tx, prefix.ToLowerInvariant());
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct))
        {
            throw new NotFoundException("Certificate not found");
        }
        var c = Read(r);
        return await r.ReadAsync(ct) ? throw new BadRequestException($"More than one certificate matches \"{prefix}\"") : c;
    }

    private static Certificate Read(NpgsqlDataReader r) => new()
    {
        Fingerprint = r.GetString(0),
        Name = r.GetString(1),
        Type = r.GetString(2),
        Restricted = r.GetBoolean(3),
        Projects = Json.List(r.GetString(4)),
        Pem = r.GetString(5),
    };
}
