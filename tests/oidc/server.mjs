import Provider from 'oidc-provider';
const [port, redirect] = [Number(process.argv[2]), process.argv[3]];
const oidc = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{ client_id: 'tunedeck', client_secret: 'tunedeck-secret', redirect_uris: [redirect],
              grant_types: ['authorization_code'], response_types: ['code'] }],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['preferred_username'] },
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return { sub: id, email: `${id}@example.com`, email_verified: true, preferred_username: id }; } };
  },
  pkce: { required: () => false },
  conformIdTokenClaims: false,  // the email and preferred_username claims in the ID token, where st.user reads them
});
oidc.listen(port, () => console.log(`oidc listening ${port}`));
