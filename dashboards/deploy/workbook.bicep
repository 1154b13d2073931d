// The workbook as a shared Azure Monitor workbook bound to an Application Insights resource.
// serializedData is the generated workbook file, loaded at compile time, so it never drifts.
@description('Resource id of the Application Insights component')
param appInsightsResourceId string

param workbookDisplayName string = 'Sub-orchestration runs'
param workbookId string = newGuid()
param location string = resourceGroup().location

resource workbook 'Microsoft.Insights/workbooks@2022-04-01' = {
  name: workbookId
  location: location
  kind: 'shared'
  properties: {
    displayName: workbookDisplayName
    serializedData: loadTextContent('../sub-orchestration-runs.workbook')
    version: 'Notebook/1.0'
    sourceId: appInsightsResourceId
    category: 'workbook'
  }
}

output workbookResourceId string = workbook.id
